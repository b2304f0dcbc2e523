import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/**
 * A loopback port whose SYNs go unanswered: a listener with backlog 1 in a
 * child process that is SIGSTOPped, its accept queue filled by two idle
 * connections.
 */
export async function stuckListener(): Promise<{ port: number; close: () => void }> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['-e', "const s=require('net').createServer({pauseOnConnect:true});s.listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log(s.address().port))"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (b: Buffer) => resolve(Number(String(b).trim())));
    child.once('error', reject);
  });
  child.kill('SIGSTOP');
  const fillers: net.Socket[] = [];
  // Fill the accept queue; stop once a connect no longer completes quickly.
  for (let i = 0; i < 8; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
    const ok = await new Promise<boolean>((r) => {
      const t = setTimeout(() => r(false), 150);
      s.once('connect', () => { clearTimeout(t); r(true); });
    });
    if (!ok) break;
  }
  return {
    port,
    close: () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}
