import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { tracingHost } from '../../agent/host/trace.ts';

function recorder() {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  return { lines, debug: (obj: object, msg: string) => void lines.push({ obj: obj as Record<string, unknown>, msg }) };
}

describe('tracingHost (INITD_LOG_LEVEL=debug)', () => {
  it('logs each command with argv, exit code and duration, never stdin, and passes the result through', async () => {
    const fake = new FakeHost().onExec('wg show', { exitCode: 0, stdout: 'wg0\n' });
    const log = recorder();
    const host = tracingHost(fake, log);
    const r = await host.exec('wg', ['show', 'interfaces'], { stdin: 'PRIVATE-KEY-MATERIAL' });
    expect(r.stdout).toBe('wg0\n');
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]!.msg).toBe('exec wg');
    expect(log.lines[0]!.obj).toMatchObject({ cmd: 'wg', args: ['show', 'interfaces'], exitCode: 0 });
    expect(typeof log.lines[0]!.obj.ms).toBe('number');
    expect(JSON.stringify(log.lines)).not.toContain('PRIVATE-KEY-MATERIAL');
    expect(fake.execLines()).toEqual(['wg show interfaces']);
  });

  it('logs failed lookups with their error code and rethrows', async () => {
    const log = recorder();
    const host = tracingHost(new FakeHost(), log);
    await expect(host.resolve('api.example.invalid', 100)).rejects.toThrow();
    expect(log.lines[0]!.msg).toBe('resolve api.example.invalid');
    expect(log.lines[0]!.obj).toMatchObject({ name: 'api.example.invalid', addresses: 0 });
    expect(log.lines[0]!.obj.error).toEqual(expect.any(String));
  });

  it('logs TCP probes with host, port and outcome; file access is not logged', async () => {
    const fake = new FakeHost();
    fake.tcp.set('10.0.0.1:8443', { ok: true, durationMs: 3 });
    const log = recorder();
    const host = tracingHost(fake, log);
    expect((await host.tcpProbe('10.0.0.1', 8443, 1000)).ok).toBe(true);
    await host.readFile('/etc/hostname');
    expect(log.lines.map((l) => l.msg)).toEqual(['tcp probe 10.0.0.1:8443']);
    expect(log.lines[0]!.obj).toMatchObject({ host: '10.0.0.1', port: 8443, ok: true });
  });
});
