/** `npm run train-cnn`: not built yet. It says so and exits non-zero, so no script pretends to work. */
process.stderr.write('train-cnn: not implemented yet (see the project issues); nothing was done.\n');
process.exitCode = 1;
