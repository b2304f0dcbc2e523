/** How the config tests (agent/config/) look at a refused configuration: the ConfigError and its problems as text. */
import { ConfigError } from '../../agent/errors.ts';

/** The ConfigError `p` rejects with; any other rejection is rethrown, and no rejection fails the test. */
export async function configError(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

/** Every problem of `e` as `VARIABLE: message`, one a line. */
export const problemsText = (e: ConfigError): string => e.problems.map((p) => `${p.variable}: ${p.message}`).join('\n');
