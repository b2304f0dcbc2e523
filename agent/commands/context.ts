import type { Host } from '../host/host.ts';

/** What every command receives from the CLI. */
export interface CommandContext {
  host: Host;
  /** The process environment (what systemd's EnvironmentFile= gives). */
  env: NodeJS.ProcessEnv;
  /** --env-file, an alias of INITD_EXTRA_ENV_FILE (the flag wins when both are given). */
  envFile?: string;
  json: boolean;
  /** Write to stdout (tests capture it). */
  out: (text: string) => void;
  /** Write to stderr. */
  err: (text: string) => void;
}

export type Command<O = Record<string, unknown>> = (ctx: CommandContext, opts: O) => Promise<number>;
