import type { ApiClient } from '../api/client.ts';
import type { LogEvent, LogSink } from '../api/types.ts';

const LEVEL: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const MAX_BUFFER = 5000;

/**
 * Startup-log upload: the agent's log lines from process start until READY
 * go to the control plane's log sink, with the scoped log key only, batched,
 * and only until the key's `expiresAt`. Lines are already scrubbed of secrets
 * (the logger's streamWrite hook runs first). After READY, nothing more is
 * collected or sent.
 */
export class StartupLogShipper {
  private buf: LogEvent[] = [];
  private open = true;
  dropped = 0;
  sent = 0;

  /** Tap for the logger's output (one JSON line). */
  push(line: string): void {
    if (!this.open) return;
    try {
      const r = JSON.parse(line) as { level?: number; time?: number; msg?: string };
      if (this.buf.length >= MAX_BUFFER) {
        this.dropped++;
        return;
      }
      this.buf.push({ level: LEVEL[r.level ?? 30] ?? 'info', time: new Date(r.time ?? Date.now()).toISOString(), message: String(r.msg ?? '') });
    } catch {
      // not a JSON line (pretty mode): skip
    }
  }

  /** Upload what is buffered (when the sink is known and not expired). `final` closes the shipper (READY). */
  async flush(client: ApiClient | undefined, sink: LogSink | undefined, final: boolean): Promise<void> {
    if (final) this.open = false;
    if (!client || !sink || !this.buf.length) {
      if (final) this.buf = [];
      return;
    }
    if (Date.parse(sink.expiresAt) <= Date.now()) {
      this.buf = [];
      this.open = false;
      return;
    }
    const batch = this.buf;
    this.buf = [];
    try {
      const r = await client.uploadLogs(sink, batch, { maxAttempts: 2 });
      this.sent += r.sent;
    } catch {
      // Startup logs are best effort: never retried with any other credential.
      if (!final) this.buf = batch.concat(this.buf).slice(-MAX_BUFFER);
    }
  }
}
