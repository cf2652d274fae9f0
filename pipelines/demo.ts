/**
 * `npm run demo`: the main job on a small built-in default. For now: generate a small dataset
 * (24 patches of the paper's algorithm) and summarise it. Later stages (training, NSynth
 * evaluation) join the chain as they land.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { runCommand, UserError } from '../src/cli/run.ts';
import { makeDatasetConfig } from '../src/dataset/config.ts';
import { generateDataset } from '../src/dataset/generate.ts';
import { PARAM_SPECS } from '../src/synth/params.ts';

export async function demoMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write('npm run demo\n\nGenerates a small dataset (24 patches, seed 0) in datasets/demo and summarises it.\n');
    return 0;
  }
  if (argv.length > 0) throw new UserError(`demo takes no options (got ${argv.join(' ')})`);
  const config = makeDatasetConfig({ count: 24, seed: 0 });
  const dir = path.resolve('datasets', 'demo');
  process.stdout.write(`demo: generating ${config.count} random ${config.algorithm} patches → ${path.relative(process.cwd(), dir)}\n`);
  const s = await generateDataset(config, { dir, workers: 2, shard: null, resume: true, force: true });
  const rows = readFileSync(path.join(dir, 'params.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').slice(2).map(Number));
  process.stdout.write(`\n${'parameter'.padEnd(12)} ${'unit'.padEnd(10)} ${'min'.padStart(9)} ${'median'.padStart(9)} ${'max'.padStart(9)}\n`);
  PARAM_SPECS.forEach((spec, j) => {
    const v = rows.map((r) => r[j]).sort((a, b) => a - b);
    const f = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3)).padStart(9);
    process.stdout.write(`${spec.name.padEnd(12)} ${spec.unit.padEnd(10)} ${f(v[0])} ${f(v[v.length >> 1])} ${f(v[v.length - 1])}\n`);
  });
  process.stdout.write(
    `\ndemo: ${s.present} notes (16 kHz, 4 s) in ${path.relative(process.cwd(), dir)}/audio, parameters in params.csv, ` +
      `manifest.json [${s.complete ? s.contentHash : 'incomplete'}]; ${s.aboveNyquist} patches have a modulator above 24 kHz (kept, as in the paper).\n`,
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runCommand('demo', () => demoMain(hideBin(process.argv)));
}
