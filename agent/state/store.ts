import path from 'node:path';
import type { Host } from '../host/host.ts';
import { DEFAULT_STATE_DIR } from './files.ts';

/**
 * JSON documents under the state directory (0700), each written atomically
 * (temp file + fsync + rename) with mode 0600. A crash leaves either the old or
 * the new document, never half of one.
 */
export class StateStore {
  readonly dir: string;
  private readonly host: Host;
  constructor(host: Host, dir: string = DEFAULT_STATE_DIR) {
    this.host = host;
    this.dir = dir;
  }

  path(name: string): string {
    return path.join(this.dir, name);
  }

  async read<T>(name: string): Promise<T | undefined> {
    const text = await this.host.readFile(this.path(name));
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new Error(`state file ${this.path(name)} is not valid JSON (${(e as Error).message}); move it aside and re-run`, { cause: e });
    }
  }

  async write(name: string, value: unknown): Promise<void> {
    await this.host.writeFileAtomic(this.path(name), `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, dirMode: 0o700 });
  }

  async remove(name: string): Promise<void> {
    await this.host.remove(this.path(name));
  }
}
