/**
 * One request to the emulator's admin endpoint `https://…/_emulator/<sub>` (TEST CODE), shared by
 * the emulator CLI (main.ts) and the API fault campaign's helper (test/e2e/api-faults-admin.ts).
 * The admin key travels in a header, never on a command line.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { EmulatorInfo } from './emulator.ts';

export function adminRequest(info: Pick<EmulatorInfo, 'apiUrl' | 'caFile' | 'adminKey'>, method: string, sub: string, body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(`${info.apiUrl}/_emulator/${sub}`),
      { method, ca: readFileSync(info.caFile), headers: { 'x-emulator-admin': info.adminKey, 'content-type': 'application/json' }, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if ((res.statusCode ?? 500) >= 300) reject(new Error(`admin ${method} ${sub}: HTTP ${res.statusCode}: ${text}`));
          else resolve(JSON.parse(text));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('admin request timed out')));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
