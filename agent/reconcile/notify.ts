import type { Host } from '../host/host.ts';

/**
 * systemd notifications for a Type=notify unit. Node cannot send on a unix
 * datagram socket, so we call `systemd-notify --pid=<our pid>` (the unit sets
 * NotifyAccess=all): the message is attributed to our main PID, which is alive,
 * so systemd never drops it as from an unknown, already-exited sender.
 * Outside systemd (no NOTIFY_SOCKET) this is a no-op.
 */
export class Notifier {
  private readonly host: Host;
  private readonly enabled: boolean;
  private lastStatus = '';
  constructor(host: Host, env: NodeJS.ProcessEnv = process.env) {
    this.host = host;
    this.enabled = Boolean(env.NOTIFY_SOCKET);
  }

  async status(line: string): Promise<void> {
    if (line === this.lastStatus) return;
    this.lastStatus = line;
    await this.send([`STATUS=${line}`]);
  }

  async ready(line: string): Promise<void> {
    this.lastStatus = line;
    await this.send(['READY=1', `STATUS=${line}`]);
  }

  async stopping(): Promise<void> {
    await this.send(['STOPPING=1']);
  }

  private async send(assignments: string[]): Promise<void> {
    if (!this.enabled) return;
    await this.host.exec('systemd-notify', [`--pid=${process.pid}`, ...assignments], {
      timeoutMs: 5000,
      env: { NOTIFY_SOCKET: process.env.NOTIFY_SOCKET ?? '' },
    });
  }
}
