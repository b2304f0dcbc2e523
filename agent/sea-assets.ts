/**
 * Names of the assets scripts/build.ts puts into the single executable next to its main script
 * (agent/sea-main.ts), in one place for both. See docs/decisions/0191-startup-floor.md.
 */
/** The agent bundle (esbuild's CJS output of agent/main.ts). */
export const SEA_AGENT_ASSET = 'agent.cjs';
/** V8 code cache of that bundle, made by the pinned Node at build time (amd64 only). */
export const SEA_CODE_CACHE_ASSET = 'agent.codecache';
/** The parameters the bundle is compiled with: a CommonJS module wrapper. */
export const SEA_WRAPPER_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'] as const;
