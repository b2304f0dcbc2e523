/**
 * A DNS server that never answers must not keep `doctor` alive past its
 * deadline. getaddrinfo in libuv's thread pool cannot be cancelled (measured:
 * the process lingered 23 s after a 1 s deadline), so RealHost runs lookups as
 * a killable `getent ahosts`. This test builds the black hole for real, inside
 * a private mount+network namespace: loopback only, /etc/resolv.conf bind-
 * mounted to point at a UDP socket that reads queries and never replies.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { describeNeeding, missingTools, notRoot } from '../helpers/needs.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const missing = [...notRoot('a private mount+network namespace (unshare -mn)'), ...missingTools(['unshare', 'ip'], 'make deps: util-linux, iproute2')];

describeNeeding('doctor with a black-holed DNS server (needs root + unshare)', missing, () => {
  it('ends at the deadline: report AND process', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dns-hang-'));
    try {
      // A DNS server that binds port 53 and never answers.
      const BLACK_HOLE_DNS = `const d=require('dgram').createSocket('udp4');d.bind(53,'127.0.0.53',()=>console.log('ready'));setTimeout(()=>process.exit(0),60000)`;
      const script = `
set -eu
ip link set lo up
echo "nameserver 127.0.0.53" > ${dir}/resolv.conf
mount --bind ${dir}/resolv.conf /etc/resolv.conf
"${process.execPath}" -e "${BLACK_HOLE_DNS}" > ${dir}/srv.out &
SRV=$!
for i in $(seq 50); do grep -q ready ${dir}/srv.out && break; sleep 0.1; done
start=$(date +%s%N)
rc=0
API_URL=https://api.blackhole.test INITD_STATE_DIR=${dir}/state "${process.execPath}" ${ROOT}/agent/main.ts doctor --json --deadline 1000 > ${dir}/doctor.json || rc=$?
end=$(date +%s%N)
kill $SRV
echo "$rc $(( (end - start) / 1000000 ))"
`;
      const out = await new Promise<string>((resolve, reject) =>
        execFile('unshare', ['-mn', 'sh', '-c', script], { timeout: 60_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
        ),
      );
      const [rc, ms] = out.trim().split('\n').pop()!.split(' ').map(Number);
      expect(rc).toBe(3);
      // node start-up (~0.4 s) + the 1 s deadline + slack; without the fix this was ~23 s (and grows with resolv.conf attempts).
      expect(ms).toBeLessThan(7000);
      const doc = JSON.parse(await fs.readFile(path.join(dir, 'doctor.json'), 'utf8')) as {
        durationMs: number;
        checks: Array<{ name: string; status: string; message: string }>;
      };
      expect(doc.durationMs).toBeLessThan(1500);
      for (const n of ['dns-api', 'tcp-api-443']) {
        expect(doc.checks.find((c) => c.name === n)).toMatchObject({ status: 'fail', message: expect.stringMatching(/timed out after 1000 ms|ETIMEOUT/) });
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
