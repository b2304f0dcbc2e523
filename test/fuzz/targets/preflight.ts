/**
 * Fuzz targets: the smaller readers of outside input — the API's Retry-After
 * header, `uname -r`, /proc/net/tcp, and the control-plane endpoints `doctor`
 * reads from a saved register.json. All of them are lenient by design
 * (undefined / an error result, never an exception).
 */
import fc from 'fast-check';
import { DEFAULT_RETRY, parseRetryAfter } from '../../../agent/api/retry.ts';
import { FakeHost } from '../../../agent/host/fake.ts';
import { listeningPorts } from '../../../agent/preflight/checks.ts';
import { parseKernelRelease } from '../../../agent/preflight/kernel.ts';
import { readEndpoints } from '../../../agent/preflight/runner.ts';
import { assert, fail, isInt, isStr, target, type FuzzTarget } from '../harness.ts';
import { mutatedJsonText, mutatedText, NASTY, noise } from '../mutate.ts';
import { validRegisterResponse } from './api.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const PROC_NET_TCP = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:2A2A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23456 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 19283 1 0000000000000000 100 0 0 10 5\n   2: 0F02000A:0016 0202000A:C350 01 00000000:00000000 02:0009B0C7 00000000     0        0 34567 4 0000000000000000 20 4 30 10 -1\n',
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000000000000:2A2A 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23457 1 0000000000000000 100 0 0 10 0\n',
];
const STATE = '/var/lib/castai-edge-initd';

export const preflightTargets: FuzzTarget[] = [
  target({
    name: 'api.retry-after',
    parser: 'parseRetryAfter (Retry-After header of a 429/503)',
    arbitrary: fc.oneof(
      mutatedText(['120', '0', 'Wed, 21 Oct 2015 07:28:00 GMT', 'Sat, 21 Nov 2026 12:05:00 GMT', '1.5', '-1']),
      fc.constantFrom(...NASTY),
      noise,
      fc.array(fc.string({ maxLength: 30 }), { maxLength: 3 }),
    ),
    check: (v: string | string[]) => {
      const ms = parseRetryAfter(v, NOW);
      if (ms === undefined) return 'rejected';
      assert(typeof ms === 'number' && ms >= 0 && !Number.isNaN(ms), `Retry-After ${JSON.stringify(v)} -> ${ms}`);
      assert(Number.isFinite(Math.min(ms, DEFAULT_RETRY.maxRetryAfterMs)), 'uncapped delay');
      return 'accepted';
    },
  }),
  target({
    name: 'preflight.kernel',
    parser: 'parseKernelRelease (uname -r)',
    arbitrary: fc.oneof(mutatedText(['6.1.0-28-amd64', '6.18.44-fc-v595', '5.14.0-427.13.1.el9_4.x86_64', '6.6.30+rpt-rpi-v8', '6.0']), noise),
    check: (s: string) => {
      const r = parseKernelRelease(s);
      if (!r.ok) {
        assert(isStr(r.error) && r.error.startsWith('cannot parse kernel release '), `kernel: error ${r.error}`);
        return 'rejected';
      }
      assert(isInt(r.version.major) && isInt(r.version.minor) && isInt(r.version.patch), `kernel: ${JSON.stringify(r.version)}`);
      return 'accepted';
    },
  }),
  target({
    name: 'preflight.proc-net-tcp',
    parser: 'listeningPorts (/proc/net/tcp, /proc/net/tcp6)',
    arbitrary: fc.oneof({ weight: 5, arbitrary: mutatedText(PROC_NET_TCP) }, { weight: 1, arbitrary: noise }),
    check: (s: string) => {
      const ports = listeningPorts(s);
      for (const p of ports) assert(isInt(p) && p <= 65535, `port ${p}`);
      return ports.size ? 'accepted' : 'rejected';
    },
  }),
  target({
    name: 'preflight.register-endpoints',
    parser: 'readEndpoints (control plane / konnectivity / join token from a saved register.json, for doctor)',
    arbitrary: fc.oneof({ weight: 5, arbitrary: mutatedJsonText([JSON.stringify(validRegisterResponse()), '{"k0s":{"apiEndpoint":"https://[fd00::1]:8443","konnectivityEndpoint":"cp:8132"}}']) }, { weight: 1, arbitrary: noise }),
    check: async (text: string) => {
      const h = new FakeHost().setFile(`${STATE}/register.json`, text, 0o600);
      const eps = await readEndpoints(h, { apiUrl: 'https://api.example.test', stateDir: STATE, skip: [], deadlineMs: 1000 });
      if (h.mutations().length) fail('readEndpoints changed the host');
      assert(isStr(eps.source), 'no source');
      for (const ep of [eps.controlPlane, eps.konnectivity])
        if (ep) assert(isStr(ep.host) && ep.host !== '' && isInt(ep.port, 1) && ep.port <= 65535, `endpoint ${JSON.stringify(ep)}`);
      if (eps.error) {
        assert(eps.error.includes('register.json'), `error does not name the file: ${eps.error}`);
        return 'rejected';
      }
      return 'accepted';
    },
  }),
];
