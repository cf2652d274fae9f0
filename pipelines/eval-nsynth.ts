/** `npm run eval-nsynth`: not built yet. It says so and exits non-zero, so no script pretends to work. */
process.stderr.write('eval-nsynth: not implemented yet (see the project issues); nothing was done.\n');
process.exitCode = 1;
