/**
 * castai-edge-initd command line. Heavy modules are imported lazily, by the
 * command that needs them, so `version` and `--help` start fast.
 */
import { Command as Cli, CommanderError } from 'commander';
import { BINARY_NAME, VERSION, versionText } from './version.ts';
import { EXIT } from './errors.ts';
import type { Command, CommandContext } from './commands/context.ts';

interface GlobalOpts {
  envFile?: string;
  json?: boolean;
}
/** What commander hands an action: the global options and the command's own (it types them `any`). */
type CommandOpts = GlobalOpts & Record<string, unknown>;

async function context(opts: GlobalOpts): Promise<CommandContext> {
  const { RealHost } = await import('./host/real.ts');
  return {
    host: new RealHost(),
    env: process.env,
    ...(opts.envFile ? { envFile: opts.envFile } : {}),
    json: Boolean(opts.json),
    out: (t) => void process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => void process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  };
}

/** Runs a command module and turns its result or error into an exit code. */
async function dispatch(
  load: () => Promise<{ default: Command<never> }>,
  opts: CommandOpts,
  oneShot = true,
): Promise<void> {
  const ctx = await context(opts);
  let code: number;
  try {
    const mod = await load();
    code = await mod.default(ctx, opts as never);
  } catch (e) {
    const { reportFatal } = await import('./commands/fatal.ts');
    code = reportFatal(ctx, e);
  }
  process.exitCode = code;
  if (!oneShot) return; // the daemon (`run`) ends on its own, after flushing its log shipping
  // A one-shot command is done: leave once stdout and stderr are flushed (pipes are asynchronous
  // on POSIX), instead of waiting for handles already being torn down — a probe child killed at
  // doctor's deadline, a socket to a black hole.
  const flushed = (s: NodeJS.WriteStream) => new Promise<void>((r) => s.write('', () => r()));
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

const envFileOpt = ['--env-file <file>', 'extra dotenv file (alias of INITD_EXTRA_ENV_FILE; the file wins over the environment)'] as const;
const jsonOpt = ['--json', 'machine-readable JSON output'] as const;

export function buildCli(): Cli {
  const program = new Cli(BINARY_NAME)
    .description('Turns this Linux machine into a k0s worker of a remote k0smotron cluster, and keeps it healthy.')
    .version(`${VERSION}`, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride();

  program
    .command('version')
    .description('print the version and exit')
    .option(...jsonOpt)
    .action((o: GlobalOpts) => {
      process.stdout.write(versionText(Boolean(o.json)));
    });

  program
    .command('run')
    .description('run the agent daemon: preflight, register, storage, gpu, wireguard, k0s; then keep the node healthy')
    .option(...envFileOpt)
    .option('--once', 'reconcile once and exit instead of looping')
    .option('--skip <check...>', 'skip a named preflight check (repeatable)')
    .action((o: CommandOpts) => dispatch(() => import('./commands/run.ts'), o, false));

  program
    .command('plan')
    .description('show what the agent would change on this host, changing nothing')
    .option(...envFileOpt)
    .option(...jsonOpt)
    .action((o: CommandOpts) => dispatch(() => import('./commands/plan.ts'), o));

  program
    .command('doctor')
    .description('run the preflight checks (host, kernel, network) and print a table')
    .option(...envFileOpt)
    .option(...jsonOpt)
    .option('--skip <check...>', 'skip a named check (repeatable)')
    .option('--deadline <ms>', 'one deadline for all checks, in milliseconds', '5000')
    .action((o: CommandOpts) => dispatch(() => import('./commands/doctor.ts'), o));

  program
    .command('status')
    .description('show the state of each step, the last error, the WireGuard handshake age and k0sworker')
    .option(...envFileOpt)
    .option(...jsonOpt)
    .action((o: CommandOpts) => dispatch(() => import('./commands/status.ts'), o));

  program
    .command('config')
    .description('validate and print the effective configuration (secrets masked)')
    .option(...envFileOpt)
    .option(...jsonOpt)
    .action((o: CommandOpts) => dispatch(() => import('./commands/config.ts'), o));

  program
    .command('inventory')
    .description('print the hardware inventory reported at registration')
    .option(...envFileOpt)
    .option(...jsonOpt)
    .option('--format <format>', 'output format: text, json or aios', 'text')
    .action((o: CommandOpts) => dispatch(() => import('./commands/inventory.ts'), o));

  program
    .command('reset')
    .description('tear the node down: stop k0sworker, k0s reset, WireGuard down, storage teardown')
    .option(...envFileOpt)
    .option('--yes-really-reset', 'confirm: without it nothing is changed')
    .option('--remove-volume-group', 'also remove our LVM volume group (data on it is lost)')
    .action((o: CommandOpts) => dispatch(() => import('./commands/reset.ts'), o));

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildCli();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; everything else is a usage error.
      process.exitCode = e.exitCode === 0 ? EXIT.OK : EXIT.CONFIG;
      return;
    }
    throw e;
  }
}
