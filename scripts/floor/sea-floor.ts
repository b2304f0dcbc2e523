/**
 * The startup FLOOR of a Node single executable (`make bench`, scripts/bench/startup.ts): a trivial
 * program that prints a version and exits, built by the very pipeline of the agent
 * (scripts/build.ts: esbuild → SEA blob with the same code-cache setting → postject into the same
 * stripped pinned Node). Whatever `castai-edge-initd version` costs above this is ours.
 */
process.stdout.write(`sea-floor ${process.versions.node} (linux/${process.arch})\n`);
