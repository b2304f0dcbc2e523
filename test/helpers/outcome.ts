/** A plan, or the refusal raised as `run` raises it (agent/contract.ts refusalError): for tests that expect a plan. */
import { isRefusal, refusalError, type Refusal } from '../../agent/contract.ts';

export function orThrow<T>(p: T | Refusal): T {
  if (isRefusal(p)) throw refusalError(p);
  return p;
}
