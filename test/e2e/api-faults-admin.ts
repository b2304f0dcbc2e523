#!/usr/bin/env node
/**
 * Apply a batch of control-plane-emulator fault changes in ONE process (TEST CODE), for the API
 * fault campaign (test/e2e/api-faults-fixture.ts). Runs inside the lab namespace (`lab.hostExec`),
 * where the emulator's admin endpoint lives. The batch comes on stdin as JSON, so nothing
 * (the admin key included) is on a command line:
 *
 *   {"clear": true, "add": [{"kind": "status", "status": 503, "endpoint": "get-edge"}, ...]}
 *
 * `clear` (first) removes every rule; `add` adds rules in order. Prints the rule list as JSON.
 *
 *   node test/e2e/api-faults-admin.ts --state-dir DIR < batch.json
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { adminRequest } from '../control-plane/admin.ts';
import { parseArgs } from 'node:util';
import type { FaultSpec } from '../control-plane/faults.ts';

const { values } = parseArgs({ options: { 'state-dir': { type: 'string' } } });
const stateDir = values['state-dir'];
if (!stateDir) {
  process.stderr.write('api-faults-admin: --state-dir is required\n');
  process.exit(2);
}
const info = JSON.parse(readFileSync(path.join(stateDir, 'emulator.json'), 'utf8')) as { apiUrl: string; caFile: string; adminKey: string };

function admin(method: string, sub: string, body?: unknown): Promise<unknown> {
  return adminRequest(info, method, sub, body);
}

const batch = JSON.parse(readFileSync(0, 'utf8')) as { clear?: boolean; add?: FaultSpec[] };
if (batch.clear) await admin('DELETE', 'faults');
for (const spec of batch.add ?? []) await admin('POST', 'faults', spec);
process.stdout.write(`${JSON.stringify(await admin('GET', 'faults'))}\n`);
