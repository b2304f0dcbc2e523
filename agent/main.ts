import { main } from './cli.ts';

main(process.argv).catch((e: unknown) => {
  process.stderr.write(`castai-edge-initd: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
