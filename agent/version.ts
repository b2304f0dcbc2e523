declare const __AGENT_VERSION__: string | undefined;
declare const __AGENT_COMMIT__: string | undefined;

/** Injected by esbuild at build time (scripts/build.sh); "0.0.0-dev" when run from source. */
export const VERSION: string = typeof __AGENT_VERSION__ === 'string' ? __AGENT_VERSION__ : '0.0.0-dev';
export const COMMIT: string = typeof __AGENT_COMMIT__ === 'string' ? __AGENT_COMMIT__ : 'unknown';
export const BINARY_NAME = 'castai-edge-initd';
