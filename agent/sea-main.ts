/**
 * The single executable's main script (scripts/build.ts bundles it on its own, a few hundred
 * bytes). `castai-edge-initd version [--json]` is answered here, from the constants esbuild
 * injected, so the most frequent cold start loads nothing but this file: measured, the 1.5 MB
 * bundle's code cache and commander cost ~15-30 % above the floor of a trivial single executable.
 * `run` (the daemon) is first re-executed with its Node options (DAEMON_NODE_OPTIONS).
 * Every other command loads the agent bundle — a SEA asset — and its V8 code cache (made by the
 * same pinned Node at build time, amd64 only) and runs it as Node runs a SEA main script: a
 * CommonJS wrapper function compiled with the cache, called with this script's builtin-only
 * `require`. A rejected cache (another V8) only costs the compile time, silently.
 * Decision: docs/decisions/0191-startup-floor.md. Not used when running from source (agent/main.ts).
 */
import { daemonReexecArgv, SEA_AGENT_ASSET, SEA_CODE_CACHE_ASSET, SEA_WRAPPER_PARAMS } from './sea-assets.ts';
import { fastVersion } from './version.ts';

const text = fastVersion(process.argv.slice(2));
const reexec = text === undefined ? daemonReexecArgv(process.argv, process.execArgv) : undefined;
if (text !== undefined) {
  process.stdout.write(text);
} else if (reexec && typeof process.execve === 'function') {
  // The daemon runs with its own Node options (DAEMON_NODE_OPTIONS); same pid, so systemd's
  // MainPID and sd_notify are unaffected. Nothing has been written or loaded yet.
  process.execve(process.execPath, reexec, process.env);
} else {
  // Required here, not imported at the top (esbuild would hoist that): `version` needs neither.
  /* eslint-disable @typescript-eslint/no-require-imports -- see the line above */
  const { getAsset, getAssetKeys, getRawAsset } = require('node:sea') as typeof import('node:sea');
  const { compileFunction, constants } = require('node:vm') as typeof import('node:vm');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const source = getAsset(SEA_AGENT_ASSET, 'utf8');
  const cachedData = getAssetKeys().includes(SEA_CODE_CACHE_ASSET) ? Buffer.from(getRawAsset(SEA_CODE_CACHE_ASSET)) : undefined;
  const agent = compileFunction(source, [...SEA_WRAPPER_PARAMS], {
    filename: __filename,
    // import() of a builtin (esbuild keeps `import('node:…')` as is) works as in a main script.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    ...(cachedData ? { cachedData } : {}),
  });
  const mod = { exports: {} };
  // The CommonJS wrapper's signature, in SEA_WRAPPER_PARAMS order (compileFunction types it only as Function).
  type Wrapper = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;
  (agent as Wrapper)(mod.exports, require, mod, __filename, __dirname);
}
