/**
 * The idle-memory FLOOR (`make bench`, scripts/bench/join.ts): the smallest Node daemon that does
 * what the agent must do while a node is idle — one HTTPS request every 30 s (to the control-plane
 * emulator, TLS verified against its CA) and one child process every 60 s — built as a single
 * executable of the same pinned Node by the same pipeline (scripts/build.ts), and run in the same
 * VM, in the same window, under the same unit settings as the agent. Whatever `idle_rss_mb` is
 * above this is ours. Node's own `https` and `child_process` only: no package.
 *
 *   FLOOR_URL=https://10.77.0.1/… FLOOR_CA_FILE=/root/api-ca.pem idle-daemon
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';

const url = process.env.FLOOR_URL;
const caFile = process.env.FLOOR_CA_FILE;
if (!url || !caFile) {
  process.stderr.write('idle-daemon: set FLOOR_URL and FLOOR_CA_FILE\n');
  process.exit(2);
}
const ca = readFileSync(caFile);
let requests = 0;
let children = 0;

function request(): void {
  https
    .get(url!, { ca, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => {
        requests++;
        process.stdout.write(`request ${requests}: HTTP ${res.statusCode}\n`);
      });
    })
    .on('timeout', function (this: { destroy: () => void }) {
      this.destroy();
    })
    .on('error', (e) => process.stdout.write(`request failed: ${e.message}\n`));
}

function child(): void {
  spawn('/bin/true', { stdio: 'ignore' }).on('exit', (code) => {
    children++;
    process.stdout.write(`child ${children}: exit ${code}\n`);
  });
}

request();
child();
setInterval(request, 30_000);
setInterval(child, 60_000);
