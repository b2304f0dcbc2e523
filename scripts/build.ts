/**
 * The offline single-binary build (run by scripts/build.sh with the pinned Node):
 *
 *   esbuild bundle (one CJS file) -> Node SEA blob made by the pinned Node
 *   -> postject into a stripped copy of the pinned Node of each arch
 *   -> .xz (what the installer downloads) and .gz (fallback), each with a .sha256.
 *
 * The SEA's main script is a small loader (agent/sea-main.ts, bundled on its own): it answers
 * `version` itself and otherwise runs the agent bundle, which travels as a SEA asset together
 * with its V8 code cache (docs/decisions/0191-startup-floor.md). `--no-loader` makes the entry's
 * bundle the main script itself (the startup floor of `make bench` is built that way).
 *
 * With the loader, the executable accepts Node options as `--node-options=…` on its command line
 * (SEA execArgvExtension "cli"; NODE_OPTIONS is ignored): the loader re-executes the daemon with
 * its own (agent/sea-assets.ts DAEMON_NODE_OPTIONS). The loader itself has no code cache (1 KiB;
 * a V8 flag would make V8 reject it and Node warn at every daemon start); the bundle's cache, made
 * without flags, serves every one-shot command, and the daemon compiles the bundle without it.
 *
 * Code cache is on for amd64 (made by the x64 Node, so its V8 code cache matches) and off for
 * the cross-built arm64 (a code cache made on x64 would be rejected by an arm64 V8). Snapshots
 * are off for both (measured: a startup snapshot made `version` slower; see 0191).
 *
 * Incremental: every artefact of one arch is rebuilt only when a key over all of
 * its inputs (bundle bytes, SEA config, base binary, tool versions, compression
 * settings) changes. The key file is written last, so an interrupted build is
 * redone on the next run.
 *
 * Usage: node scripts/build.ts [--entry agent/main.ts] [--name castai-edge-initd]
 *          [--arch amd64,arm64] [--out dist] [--no-compress] [--force] [--bundle-only]
 *          [--loader agent/sea-main.ts | --no-loader]
 *   --bundle-only: bundle and run the lazy-import checks only (a second, no binaries)
 * See docs/decisions/0001-node-24-sea.md and 0002-lazy-imports.md.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, openSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';
import * as esbuild from 'esbuild';
import { SEA_AGENT_ASSET, SEA_CODE_CACHE_ASSET, SEA_WRAPPER_PARAMS } from '../agent/sea-assets.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Packages that must never load at startup: only the commands that use them import them. */
export const LAZY_PACKAGES = ['execa', 'systeminformation', 'undici', 'pino'];

/**
 * Optional native modules systeminformation require()s only on macOS, inside
 * try/catch; on Linux the require never runs. Anything else unresolved fails the build.
 */
const MACOS_ONLY_OPTIONAL = new Set(['osx-temperature-sensor', 'macos-temperature-sensor']);

export type Arch = 'amd64' | 'arm64';
const NODE_ARCH: Record<Arch, string> = { amd64: 'x64', arm64: 'arm64' };
/** strip that understands each arch's ELF (Debian binutils / binutils-aarch64-linux-gnu). */
const STRIP: Record<Arch, string> = { amd64: 'strip', arm64: 'aarch64-linux-gnu-strip' };

interface Options {
  entry: string;
  /** The SEA main script's entry (a loader that runs the entry's bundle from an asset), or null. */
  loader: string | null;
  name: string;
  arches: Arch[];
  out: string;
  compress: boolean;
  force: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    entry: 'agent/main.ts',
    loader: 'agent/sea-main.ts',
    name: 'castai-edge-initd',
    arches: ['amd64', 'arm64'],
    out: 'dist',
    compress: true,
    force: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`build: ${a} needs a value`);
      return v;
    };
    if (a === '--entry') o.entry = val();
    else if (a === '--name') o.name = val();
    else if (a === '--out') o.out = val();
    else if (a === '--no-compress') o.compress = false;
    else if (a === '--loader') o.loader = val();
    else if (a === '--no-loader') o.loader = null;
    else if (a === '--force') o.force = true;
    else if (a === '--bundle-only') o.arches = [];
    else if (a === '--arch') {
      const list = val().split(',').filter(Boolean);
      for (const x of list) if (x !== 'amd64' && x !== 'arm64') throw new Error(`build: --arch ${x}: expected amd64 or arm64`);
      o.arches = list as Arch[];
    } else throw new Error(`build: unknown argument ${a} (see the header of scripts/build.ts)`);
  }
  return o;
}

function log(msg: string): void {
  process.stderr.write(`build: ${msg}\n`);
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function fileSha256(file: string): string {
  const h = createHash('sha256');
  h.update(readFileSync(file));
  return h.digest('hex');
}

function run(cmd: string, args: string[], opts: { stdout?: string } = {}): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'buffer', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`build: cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`build: ${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().trim()}`);
  if (opts.stdout) writeFileSync(opts.stdout, r.stdout);
  return opts.stdout ? '' : r.stdout.toString();
}

function nodeVersion(): string {
  const env = readFileSync(path.join(ROOT, 'scripts/node-pin.env'), 'utf8');
  const m = /^NODE_VERSION=(\S+)$/m.exec(env);
  if (!m?.[1]) throw new Error('build: NODE_VERSION missing in scripts/node-pin.env');
  return m[1];
}

/** package.json version, plus -g<shortsha> when this is a git checkout; and the full commit. */
export function versionInfo(): { version: string; commit: string } {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  let commit = 'unknown';
  const r = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status === 0 && /^[0-9a-f]{40}$/.test(r.stdout.trim())) commit = r.stdout.trim();
  return { version: commit === 'unknown' ? pkg.version : `${pkg.version}-g${commit.slice(0, 7)}`, commit };
}

/**
 * Every module reachable from the entry through static imports only (dynamic
 * import() and lazy require edges are cut): what runs at startup.
 * Returns, for each startup module, the chain that reaches it.
 */
export function startupModules(meta: esbuild.Metafile, entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>([[entry, [entry]]]);
  const queue = [entry];
  while (queue.length) {
    const cur = queue.shift() as string;
    for (const imp of meta.inputs[cur]?.imports ?? []) {
      if (imp.kind !== 'import-statement' || imp.external) continue;
      // A CommonJS package is wrapped in __commonJS() by esbuild and only runs
      // when first required; a static ESM import of it still requires it at
      // init time of the importer, so the edge counts.
      if (!seen.has(imp.path)) {
        seen.set(imp.path, [...(seen.get(cur) ?? []), imp.path]);
        queue.push(imp.path);
      }
    }
  }
  return seen;
}

export function packageOf(modPath: string): string | undefined {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(modPath);
  return m?.[1];
}

/**
 * commander imports node:child_process at load time, only for git-style
 * executable subcommands, which this CLI does not use. Loading child_process
 * pulls in net, dgram and the stream internals, so the plugin defers that
 * require to the first spawn. When the pattern is not found (a new commander),
 * nothing is rewritten and the build says so.
 */
const lazyCommanderChildProcess: esbuild.Plugin = {
  name: 'lazy-commander-child-process',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      const from = "import childProcess from 'node:child_process';";
      if (!src.includes(from)) {
        return { contents: src, loader: 'js', warnings: [{ text: 'commander no longer imports node:child_process as expected; it loads eagerly' }] };
      }
      const to = "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };";
      return { contents: src.replace(from, to), loader: 'js' };
    });
  },
};

function esbuildOptions(entry: string, outFile: string): esbuild.BuildOptions & { metafile: true; write: false } {
  const { version, commit } = versionInfo();
  return {
    absWorkingDir: ROOT,
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    metafile: true,
    write: false,
    outfile: outFile,
    logLevel: 'silent',
    plugins: [lazyCommanderChildProcess, leanUndici],
    // import.meta is empty in CJS output; give modules that read import.meta.url
    // (execa's dependencies do) the executable's file URL instead of undefined,
    // computed on first read (a getter), not at startup.
    define: {
      __AGENT_VERSION__: JSON.stringify(version),
      __AGENT_COMMIT__: JSON.stringify(commit),
      'import.meta.url': '__sea_import_meta.url',
      'import.meta.dirname': '__dirname',
      'import.meta.filename': '__filename',
    },
    banner: { js: 'var __sea_import_meta={get url(){return require("node:url").pathToFileURL(__filename).href}};' },
  };
}

/**
 * Every `from 'undici'` of the agent is bundled to agent/api/undici-lean.ts: the three things the
 * agent uses, from undici's own modules, without the package entry that loads all of undici
 * (docs/decisions/0192-idle-memory-floor.md). Anything else imported from 'undici' fails the build
 * (esbuild: no such export), and so does a bundle that still holds undici's entry.
 */
export const UNDICI_LEAN = 'agent/api/undici-lean.ts';
const leanUndici: esbuild.Plugin = {
  name: 'lean-undici',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: path.join(ROOT, UNDICI_LEAN) }));
    // undici loads node:http2 when its client module loads, in a try/catch that falls back to no
    // HTTP/2; the lean dispatchers never negotiate h2 (allowH2: false), so it is left out: node's
    // http2 module and its nghttp2 binding stay out of the daemon's memory.
    b.onLoad({ filter: /[\\/]node_modules[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client-h2\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      const from = "http2 = require('node:http2')";
      if (!src.includes(from))
        return { contents: src, loader: 'js', warnings: [{ text: 'undici no longer requires node:http2 as expected; it loads eagerly' }] };
      return { contents: src.replace(from, "http2 = (() => { throw new Error('HTTP/2 is left out of this build') })()"), loader: 'js' };
    });
  },
};

/** Modules of undici that must not be in the agent's bundle (they come only through undici's entry). */
export function fullUndiciInputs(meta: esbuild.Metafile): string[] {
  return Object.keys(meta.inputs).filter((i) => /node_modules\/undici\/(index\.js|lib\/web\/fetch\/index\.js|lib\/mock\/)/.test(i));
}

async function bundle(o: Options, outFile: string): Promise<void> {
  const { version } = versionInfo();
  const entry = o.entry;
  const result = await esbuild.build(esbuildOptions(entry, outFile));
  for (const w of result.warnings) {
    const where = w.location ? `${w.location.file}:${w.location.line}` : '';
    log(`esbuild warning: ${w.text} ${where}`);
  }

  // 1. Heavy packages must not load at startup.
  const startup = startupModules(result.metafile, entry);
  const eager: string[] = [];
  for (const [mod, chain] of startup) {
    const pkg = packageOf(mod);
    if (pkg && LAZY_PACKAGES.includes(pkg)) eager.push(`${pkg}: ${chain.filter((c) => !c.includes('node_modules/') || c === mod).join(' -> ')}`);
  }
  if (eager.length) {
    const seen = [...new Set(eager)];
    throw new Error(
      `build: heavy packages are imported at startup; import them lazily (await import(...)) in the command that uses them:\n  ${seen.join('\n  ')}`,
    );
  }
  // 2. Only the lean part of undici.
  const full = fullUndiciInputs(result.metafile);
  if (full.length)
    throw new Error(
      `build: the bundle holds undici's full package (${full.slice(0, 3).join(', ')}); import undici only through 'undici' (bundled to ${UNDICI_LEAN})`,
    );
  // 3. A SEA can only require() built-in modules: anything left external must be a builtin.
  const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  const outMeta = Object.values(result.metafile.outputs)[0];
  const foreign = (outMeta?.imports ?? []).filter(
    (i) => i.external && !builtins.has(i.path) && !i.path.startsWith('node:') && !MACOS_ONLY_OPTIONAL.has(i.path),
  );
  if (foreign.length) {
    throw new Error(
      `build: the bundle still loads non-builtin modules at runtime, which a SEA cannot: ${foreign.map((f) => `${f.path} (${f.kind})`).join(', ')}`,
    );
  }
  const file = result.outputFiles[0];
  if (!file) throw new Error('build: esbuild produced no output');
  const text = file.text;
  // 4. With useCodeCache, import() does not work in a SEA main script; esbuild must have turned every one into lazy init.
  if (/\bimport\(/.test(text.replace(/(["'`])(?:\\.|(?!\1).)*\1/g, '""'))) {
    throw new Error('build: the bundle still contains a dynamic import(); it would fail inside the SEA with code cache');
  }
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(`${outFile}.tmp`, text);
  renameSync(`${outFile}.tmp`, outFile);
  writeFileSync(`${outFile}.meta.json`, JSON.stringify(result.metafile));
  log(`bundle ${path.relative(ROOT, outFile)} ${(text.length / 1024).toFixed(0)} KiB, version ${version}`);
}

/** The loader must stay tiny: our own sources only, no package, nothing but builtins at runtime. */
export const LOADER_MAX_BYTES = 8 * 1024;

/** Bundle the SEA main script (the loader) on its own; it must not pull in any package. */
async function bundleLoader(loader: string, outFile: string): Promise<void> {
  const result = await esbuild.build(esbuildOptions(loader, outFile));
  const packages = Object.keys(result.metafile.inputs).filter((i) => packageOf(i));
  if (packages.length) throw new Error(`build: the SEA loader ${loader} must not import packages (it runs before anything else): ${packages.join(', ')}`);
  const text = result.outputFiles[0]?.text ?? '';
  if (text.length > LOADER_MAX_BYTES) throw new Error(`build: the SEA loader bundle is ${text.length} bytes (> ${LOADER_MAX_BYTES}); keep ${loader} small`);
  writeFileSync(`${outFile}.tmp`, text);
  renameSync(`${outFile}.tmp`, outFile);
  log(`loader ${path.relative(ROOT, outFile)} ${text.length} bytes`);
}

/**
 * V8 code cache of the agent bundle as the loader compiles it (a CommonJS wrapper function), made
 * by the pinned x64 Node — the V8 of the amd64 executable. (What `useCodeCache` does for a SEA's
 * main script, done for the asset.)
 */
function makeCodeCache(bundleFile: string, outFile: string): void {
  const script = [
    "const { compileFunction, constants } = require('node:vm');",
    "const fs = require('node:fs');",
    `const fn = compileFunction(fs.readFileSync(process.argv[1], 'utf8'), ${JSON.stringify(SEA_WRAPPER_PARAMS)}, { filename: 'agent.cjs', importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER, produceCachedData: true });`,
    "if (!fn.cachedDataProduced) throw new Error('V8 produced no code cache');",
    'fs.writeFileSync(process.argv[2], fn.cachedData);',
  ].join('\n');
  run(process.execPath, ['-e', script, bundleFile, outFile]);
  // The loader stays silent when V8 rejects the cache (it only costs the compile): prove here, in
  // a fresh process of the same Node, that V8 takes it.
  const check = [
    "const { compileFunction, constants } = require('node:vm');",
    "const fs = require('node:fs');",
    `const fn = compileFunction(fs.readFileSync(process.argv[1], 'utf8'), ${JSON.stringify(SEA_WRAPPER_PARAMS)}, { filename: '/usr/local/bin/castai-edge-initd', importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER, cachedData: fs.readFileSync(process.argv[2]) });`,
    "process.stdout.write(fn.cachedDataRejected ? 'rejected' : 'accepted');",
  ].join('\n');
  const verdict = run(process.execPath, ['-e', check, bundleFile, outFile]);
  if (verdict !== 'accepted') throw new Error(`build: V8 ${verdict} the code cache it just made for ${path.basename(bundleFile)}`);
}

/** The pinned Node of an arch, stripped once and cached (.cache/sea-base/). */
function strippedBase(arch: Arch, nodeVer: string): string {
  const src = path.join(ROOT, '.cache/node', `${nodeVer}-${NODE_ARCH[arch]}`, 'bin/node');
  if (!existsSync(src)) throw new Error(`build: ${src} is missing; run scripts/toolchain.sh (make toolchain)`);
  const dir = path.join(ROOT, '.cache/sea-base', `${nodeVer}-${NODE_ARCH[arch]}`);
  const out = path.join(dir, 'node');
  const srcStat = statSync(src);
  const stamp = `${srcStat.size} ${srcStat.mtimeMs}`;
  if (existsSync(out) && existsSync(`${out}.src`) && readFileSync(`${out}.src`, 'utf8') === stamp) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.tmp${process.pid}`;
  run(STRIP[arch], ['--strip-all', '-o', tmp, src]);
  renameSync(tmp, out);
  writeFileSync(`${out}.src`, stamp);
  log(`stripped ${arch} node: ${(srcStat.size / 2 ** 20).toFixed(1)} MiB -> ${(statSync(out).size / 2 ** 20).toFixed(1)} MiB`);
  return out;
}

function toolVersion(cmd: string, args: string[] = ['--version']): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0] ?? '';
  } catch {
    return 'missing';
  }
}

/**
 * Measured on the 2-core build machine (docs/decisions/0001-node-24-sea.md): xz -6
 * is within 1.3 % of -9 at 40 % of its time and needs 10 MiB instead of 67 MiB to
 * decompress; -T1 keeps one block (deterministic output, smallest). gzip -6 is
 * within 0.6 % of -9 at 60 % of its time.
 */
const XZ_ARGS = ['-6', '-T1', '-c'];
const GZ_ARGS = ['-6', '-n', '-c'];

function runToFile(cmd: string, args: string[], outFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = openSync(outFile, 'w');
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', fd, 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => void (err += d.toString()));
    child.on('error', (e) => {
      closeSync(fd);
      reject(new Error(`build: cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code) => {
      closeSync(fd);
      if (code === 0) resolve();
      else reject(new Error(`build: ${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`));
    });
  });
}

/** xz and gzip run side by side (one core each), each output then gets a sha256sum-format file. */
async function compress(bin: string): Promise<void> {
  const base = path.basename(bin);
  await Promise.all(
    ([['xz', XZ_ARGS, 'xz'], ['gzip', GZ_ARGS, 'gz']] as const).map(async ([tool, args, ext]) => {
      const out = `${bin}.${ext}`;
      const t0 = performance.now();
      await runToFile(tool, [...args, bin], `${out}.tmp`);
      renameSync(`${out}.tmp`, out);
      writeFileSync(`${out}.sha256.tmp`, `${fileSha256(out)}  ${base}.${ext}\n`);
      renameSync(`${out}.sha256.tmp`, `${out}.sha256`);
      log(`${path.basename(out)} ${(statSync(out).size / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }),
  );
}

async function buildArch(o: Options, arch: Arch, bundleFile: string, nodeVer: string): Promise<void> {
  const hostNode = process.execPath;
  const base = strippedBase(arch, nodeVer);
  const outDir = path.resolve(ROOT, o.out);
  const bin = path.join(outDir, `${o.name}-linux-${arch}`);
  const work = path.join(outDir, '.build');
  mkdirSync(work, { recursive: true });
  const seaConfig: {
    main: string;
    output: string;
    disableExperimentalSEAWarning: boolean;
    useSnapshot: boolean;
    useCodeCache: boolean;
    execArgvExtension?: string;
    assets?: Record<string, string>;
  } = {
    main: bundleFile,
    output: path.join(work, `${o.name}-${arch}.blob`),
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: arch === 'amd64',
  };
  const codeCache = arch === 'amd64';
  let loaderKey: unknown = null;
  if (o.loader) {
    const loaderFile = path.join(work, `${o.name}.loader.cjs`);
    const assets: Record<string, string> = { [SEA_AGENT_ASSET]: bundleFile };
    if (codeCache) {
      const cacheFile = path.join(work, `${o.name}-${arch}.codecache`);
      makeCodeCache(bundleFile, cacheFile);
      assets[SEA_CODE_CACHE_ASSET] = cacheFile;
    }
    Object.assign(seaConfig, { main: loaderFile, assets, useCodeCache: false, execArgvExtension: 'cli' });
    loaderKey = { loader: fileSha256(loaderFile), assets: Object.keys(assets) };
  }
  const key = sha256(
    JSON.stringify({
      loader: loaderKey,
      bundle: fileSha256(bundleFile),
      seaConfig: { ...seaConfig, main: undefined, output: undefined, assets: undefined },
      node: process.version,
      base: statSync(base).size,
      baseSrc: readFileSync(`${base}.src`, 'utf8'),
      postject: '1.0.0-alpha.6',
      compress: o.compress ? [toolVersion('xz'), XZ_ARGS, toolVersion('gzip'), GZ_ARGS] : false,
      script: fileSha256(path.join(ROOT, 'scripts/build.ts')),
    }),
  );
  const keyFile = path.join(work, `${o.name}-${arch}.key`);
  const outputs = [bin, ...(o.compress ? [`${bin}.xz`, `${bin}.gz`, `${bin}.xz.sha256`, `${bin}.gz.sha256`] : [])];
  if (!o.force && existsSync(keyFile) && readFileSync(keyFile, 'utf8') === key && outputs.every((f) => existsSync(f))) {
    log(`${path.basename(bin)} is up to date`);
    return;
  }
  rmSync(keyFile, { force: true });
  const cfgFile = path.join(work, `${o.name}-${arch}.sea.json`);
  writeFileSync(cfgFile, JSON.stringify(seaConfig, null, 2));
  // The blob must be made by the exact Node that runs it: the pinned x64 Node.
  // (Same version for arm64; the blob format is arch-independent without code cache.)
  run(hostNode, ['--experimental-sea-config', cfgFile]);
  const tmp = `${bin}.tmp`;
  copyFileSync(base, tmp);
  run(hostNode, [path.join(ROOT, 'node_modules/postject/dist/cli.js'), tmp, 'NODE_SEA_BLOB', seaConfig.output, '--sentinel-fuse', SEA_FUSE]);
  chmodSync(tmp, 0o755);
  renameSync(tmp, bin);
  log(
    `${path.basename(bin)} ${(statSync(bin).size / 2 ** 20).toFixed(1)} MiB (code cache ${codeCache ? 'on' : 'off'}${o.loader ? ', loader + bundle asset' : ''})`,
  );
  if (o.compress) await compress(bin);
  writeFileSync(keyFile, key);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const nodeVer = nodeVersion();
  if (process.version !== `v${nodeVer}` || process.arch !== 'x64') {
    throw new Error(`build: must run with the pinned x64 Node ${nodeVer} (this is ${process.version} ${process.arch}); use scripts/build.sh`);
  }
  const outDir = path.resolve(ROOT, o.out);
  const bundleFile = path.join(outDir, '.build', `${o.name}.cjs`);
  await bundle(o, bundleFile);
  if (o.loader) await bundleLoader(o.loader, path.join(outDir, '.build', `${o.name}.loader.cjs`));
  for (const arch of o.arches) await buildArch(o, arch, bundleFile, nodeVer);
}

if (import.meta.filename === process.argv[1] || path.resolve(process.argv[1] ?? '') === import.meta.filename) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
