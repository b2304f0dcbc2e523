/**
 * Private registries in the VM lab (issue 18 item 3, TEST CODE), with real software from Debian:
 * `docker-registry` (distribution 2.8) requiring TLS from a private CA and basic auth, and
 * `containerd` (1.6) loading the agent's generated configuration the way k0s's containerd does:
 * a config whose `imports` are /etc/k0s/containerd.d/*.toml (containerd's documented import
 * mechanism; k0s merges a CRI drop-in into its default CRI config, which gives the same result
 * for a drop-in that sets only `registry` keys — docs/decisions/0184).
 *
 * Two registry processes share one store:
 *   A  https://mirror.lab.internal:5443    certificate from a private "registry CA", trusted only
 *                                          through registries.yaml `configs.<host>.tls.ca_file`;
 *   B  https://registry.lab.internal:5444  certificate from a "corporate" CA that the node knows
 *                                          only through INITD_CA_FILE (not the system store).
 * Both require basic auth (htpasswd, bcrypt made in the guest with perl's crypt(3)).
 * The image is built by hand (one layer tarball, an OCI config and manifest) and pushed with curl
 * to the registry API; the pull is a CRI PullImage over containerd's socket (gRPC over HTTP/2 with
 * curl), as the kubelet would do it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeCa, makeServer } from '../control-plane/pki.ts';

import { shq, type Vm } from './lab.ts';

export const MIRROR = 'mirror.lab.internal:5443';
export const DIRECT = 'registry.lab.internal:5444';
export const REGISTRIES_FILE = '/root/registries.yaml';
export const IMAGE = 'library/edge-demo:1.0';
const DIR = '/root/lab-registry';
const SOCK = '/run/lab-containerd/containerd.sock';

export interface LabRegistry {
  user: string;
  password: string;
}

/** Certificates, htpasswd, registries.yaml and /etc/hosts in the guest. Call before the one-liner. */
export async function prepareRegistries(vm: Vm): Promise<LabRegistry> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'lab-registry-'));
  try {
    const regCa = makeCa(tmp, 'registry-ca', 'lab private registry CA (test only)', 2);
    const a = makeServer(tmp, 'mirror', regCa, ['mirror.lab.internal'], 2);
    // B's CA is a "corporate" CA that is neither in the system store nor in registries.yaml: the
    // node knows it only through INITD_CA_FILE (a bundle, see trustCorpCa).
    const corpCa = makeCa(tmp, 'corp-ca', 'lab corporate CA, only in INITD_CA_FILE (test only)', 2);
    const b = makeServer(tmp, 'direct', corpCa, ['registry.lab.internal'], 2);
    const files: Array<[string, string, number]> = [
      ['registry-ca.pem', regCa.certFile, 0o644],
      ['corp-ca.pem', corpCa.certFile, 0o644],
      ['mirror.pem', a.certFile, 0o644],
      ['mirror.key', a.keyFile, 0o600],
      ['direct.pem', b.certFile, 0o644],
      ['direct.key', b.keyFile, 0o600],
    ];
    const put = files.map(([name, src, mode]) => `install -m ${mode.toString(8)} ${vm.putFile(readFileSync(src), `reg-${name}`, mode)} ${DIR}/${name}`);
    const user = 'edge';
    const password = `lab-${randomBytes(12).toString('hex')}`;
    const yaml = [
      'mirrors:',
      '  docker.io:',
      '    endpoint:',
      `      - "https://${MIRROR}"`,
      'configs:',
      `  "${MIRROR}":`,
      '    auth:',
      `      username: ${user}`,
      `      password: "${password}"`,
      '    tls:',
      `      ca_file: ${DIR}/registry-ca.pem`,
      `  "${DIRECT}":`,
      '    auth:',
      `      username: ${user}`,
      `      password: "${password}"`,
      '',
    ].join('\n');
    const secrets = vm.putFile(Buffer.from(`${password}\n`), 'reg-password', 0o600);
    await vm.sh(
      [
        'set -e',
        `install -d -m 0700 ${DIR}`,
        ...put,
        `cat > ${REGISTRIES_FILE} <<'EOF'\n${yaml}EOF`,
        `chmod 0600 ${REGISTRIES_FILE}`,
        'printf "127.0.0.1 mirror.lab.internal registry.lab.internal\\n" >> /etc/hosts',
        // htpasswd: bcrypt through libxcrypt's crypt(3) (perl-base is Essential in Debian).
        `salt=$(tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 21)e`,
        `pw=$(cat ${secrets})`,
        `PW="$pw" SALT="$salt" perl -e 'print "${user}:" . crypt($ENV{PW}, "\\$2b\\$10\\$$ENV{SALT}") . "\\n"' > ${DIR}/htpasswd`,
        `grep -q '^${user}:\\$2b\\$10\\$' ${DIR}/htpasswd`,
        `printf 'user = "${user}:%s"\\n' "$pw" > ${DIR}/curl.cfg && chmod 600 ${DIR}/curl.cfg`,
      ].join('\n'),
      { timeoutMs: 60_000 },
    );
    vm.putFile(Buffer.from(''), 'reg-password', 0o600);
    return { user, password };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function registryConfig(name: string, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    '    rootdirectory: /var/lib/lab-registry',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  tls:',
    `    certificate: ${DIR}/${name}.pem`,
    `    key: ${DIR}/${name}.key`,
    'auth:',
    '  htpasswd:',
    '    realm: lab',
    `    path: ${DIR}/htpasswd`,
    '',
  ].join('\n');
}

/** Starts both registries (transient units) and pushes the hand-built image to A (the shared store serves B too). */
export async function startRegistriesAndPush(vm: Vm): Promise<{ unauthenticated: string; untrusted: string; digest: string }> {
  const script = [
    'set -e',
    `cat > ${DIR}/mirror.yml <<'EOF'\n${registryConfig('mirror', 5443)}EOF`,
    `cat > ${DIR}/direct.yml <<'EOF'\n${registryConfig('direct', 5444)}EOF`,
    'systemctl reset-failed lab-registry-a lab-registry-b 2>/dev/null || true',
    `systemd-run --quiet --unit=lab-registry-a /usr/bin/docker-registry serve ${DIR}/mirror.yml`,
    `systemd-run --quiet --unit=lab-registry-b /usr/bin/docker-registry serve ${DIR}/direct.yml`,
    `for i in $(seq 120); do curl -s -o /dev/null --cacert ${DIR}/registry-ca.pem https://${MIRROR}/v2/ && break; sleep 0.5; done`,
    // What the registry asks of a client without credentials / without the CA.
    `echo "unauth=$(curl -s -o /dev/null -w '%{http_code}' --cacert ${DIR}/registry-ca.pem https://${MIRROR}/v2/)"`,
    `echo "untrusted=$(curl -s -o /dev/null -w '%{http_code}' https://${MIRROR}/v2/ 2>&1; echo " exit $?")"`,
    // The image, by hand: one layer, an OCI config, an OCI manifest.
    'd=$(mktemp -d); mkdir "$d/rootfs"; echo "hello from the lab registry" > "$d/rootfs/hello.txt"',
    'tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$d/rootfs" -cf "$d/layer.tar" .',
    'diffid=$(sha256sum "$d/layer.tar" | cut -d" " -f1); gzip -n -c "$d/layer.tar" > "$d/layer.tgz"',
    'ldig=$(sha256sum "$d/layer.tgz" | cut -d" " -f1); lsize=$(stat -c %s "$d/layer.tgz")',
    `printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diffid" > "$d/config.json"`,
    'cdig=$(sha256sum "$d/config.json" | cut -d" " -f1); csize=$(stat -c %s "$d/config.json")',
    `printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$cdig" "$csize" "$ldig" "$lsize" > "$d/manifest.json"`,
    `C="curl -sSf -K ${DIR}/curl.cfg --cacert ${DIR}/registry-ca.pem"`,
    `repo=https://${MIRROR}/v2/${IMAGE.split(':')[0]}`,
    'push() { loc=$($C -X POST -D - -o /dev/null "$repo/blobs/uploads/" | tr -d "\\r" | sed -n "s/^[Ll]ocation: //p"); case "$loc" in http*) ;; *) loc="https://' + MIRROR + '$loc";; esac; case "$loc" in *\\?*) sep="&";; *) sep="?";; esac; $C -X PUT -H "Content-Type: application/octet-stream" --data-binary @"$1" -o /dev/null "$loc${sep}digest=sha256:$2"; }',
    'push "$d/layer.tgz" "$ldig"; push "$d/config.json" "$cdig"',
    `$C -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @"$d/manifest.json" -o /dev/null "$repo/manifests/${IMAGE.split(':')[1]}"`,
    'echo "digest=sha256:$(sha256sum "$d/manifest.json" | cut -d" " -f1)"',
    'rm -rf "$d"',
  ].join('\n');
  const r = await vm.exec(script, { timeoutMs: 180_000 });
  if (r.exitCode !== 0)
    throw new Error(
      `registry setup failed (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}\n${await vm.sh('journalctl -u lab-registry-a -u lab-registry-b --no-pager -n 30').catch(() => '')}`,
    );
  const kv = Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { unauthenticated: kv.unauth ?? '', untrusted: kv.untrusted ?? '', digest: kv.digest ?? '' };
}

/** Debian's containerd with the agent's drop-ins imported, on its own socket. */
export async function startContainerd(vm: Vm): Promise<void> {
  const r = await vm.exec(
    [
      'set -e',
      'mkdir -p /run/lab-containerd /var/lib/lab-containerd',
      `cat > /root/lab-containerd.toml <<'EOF'
version = 2
root = "/var/lib/lab-containerd"
state = "/run/lab-containerd"
imports = ["/etc/k0s/containerd.d/*.toml"]
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper"
]
[grpc]
  address = "${SOCK}"
EOF`,
      'systemctl reset-failed lab-containerd 2>/dev/null || true',
      'systemd-run --quiet --unit=lab-containerd /usr/bin/containerd --config /root/lab-containerd.toml',
      `for i in $(seq 240); do ctr -a ${SOCK} version >/dev/null 2>&1 && break; sleep 0.5; done`,
      `ctr -a ${SOCK} version >/dev/null`,
    ].join('\n'),
    { timeoutMs: 180_000 },
  );
  if (r.exitCode !== 0)
    throw new Error(`containerd did not start: ${r.stdout}${r.stderr}\n${await vm.sh('journalctl -u lab-containerd --no-pager -n 40').catch(() => '')}`);
}

/**
 * CRI PullImage (runtime.v1.ImageService) over containerd's socket, as the kubelet pulls: a gRPC
 * call by hand (HTTP/2 prior knowledge; the request is PullImageRequest{image: ImageSpec{image}}
 * in protobuf: field 1, length-delimited, twice). Returns grpc-status and grpc-message.
 */
export async function criPull(vm: Vm, ref: string): Promise<{ status: string; message: string; images: string }> {
  if (ref.length > 120) throw new Error('ref too long for the one-byte varints below');
  const r = await vm.exec(
    [
      `img=${shq(ref)}`,
      'n=${#img}; spec=$((n + 2)); req=$((spec + 2))',
      'hex() { printf "\\\\x%02x" "$1"; }',
      '{ printf "\\x00\\x00\\x00\\x00"; printf "$(hex $req)"; printf "\\x0a$(hex $spec)\\x0a$(hex $n)"; printf "%s" "$img"; } > /run/lab-containerd/pull.bin',
      `curl -sS --http2-prior-knowledge --unix-socket ${SOCK} -H "content-type: application/grpc" -H "te: trailers" --data-binary @/run/lab-containerd/pull.bin -D /run/lab-containerd/pull.hdr -o /run/lab-containerd/pull.out --max-time 300 http://localhost/runtime.v1.ImageService/PullImage; echo "curl=$?"`,
      'tr -d "\\r" < /run/lab-containerd/pull.hdr | sed -n "s/^grpc-status: /status=/p; s/^grpc-message: /message=/p"',
      `echo "images=$(ctr -a ${SOCK} -n k8s.io images ls -q | tr '\\n' ' ')"`,
    ].join('\n'),
    { timeoutMs: 400_000 },
  );
  const kv = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
  );
  return {
    status: kv.status ?? `none (curl exit ${kv.curl ?? '?'}): ${r.stderr.trim()}`,
    message: decodeURIComponent(kv.message ?? ''),
    images: kv.images ?? '',
  };
}

/** INITD_CA_FILE becomes a bundle: the emulator's CA (for the API) plus the corporate CA of registry B. Call after prepareGuest. */
export async function trustCorpCa(vm: Vm, caFile = '/root/api-ca.pem'): Promise<void> {
  await vm.sh(`cat ${DIR}/corp-ca.pem >> ${caFile}`);
}

/** Registry access log lines that mention a path (which host served what). */
export async function registryLog(vm: Vm, unit: 'lab-registry-a' | 'lab-registry-b'): Promise<string> {
  return vm.sh(`journalctl -u ${unit} --no-pager -o cat | grep -E '"(GET|HEAD) /v2/' || true`);
}

export async function stopRegistryLab(vm: Vm): Promise<void> {
  await vm.sh('systemctl stop lab-containerd lab-registry-a lab-registry-b 2>/dev/null; true', { timeoutMs: 120_000 }).catch(() => undefined);
}
