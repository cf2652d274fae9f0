/**
 * `npm run demo`: the whole chain on a small built-in default, in about a minute on 2 cores:
 * generate 160 random patches, train the paper's CNN for a few epochs and the spectral carrier net
 * (ours) for a few more, resynthesize 11
 * real-instrument notes shipped in the repo (one per NSynth family) and write the report.
 * The figures of such a short training are not the project's results: the full-scale commands
 * are printed at the end.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { runCommand, UserError } from '../src/cli/run.ts';
import { evalNsynthMain } from './eval-nsynth.ts';
import { genDatasetMain } from './gen-dataset.ts';
import { trainCarrierMain } from './train-carrier.ts';
import { trainCnnMain } from './train-cnn.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function demoMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'npm run demo\n\nThe whole chain on a small default: gen-dataset (160 patches) → train-cnn (3 epochs) →\n' +
        'train-carrier (5 epochs) →\n' +
        'eval-nsynth on test/fixtures/nsynth-mini (11 real-instrument notes, one per family), with the\n' +
        'search after the CNN (--refine 100) beside it.\n' +
        'Outputs: datasets/demo, models/demo, reports/demo (open reports/demo/index.html).\n',
    );
    return 0;
  }
  if (argv.length > 0) throw new UserError(`demo takes no options (got ${argv.join(' ')})`);
  const data = path.join('datasets', 'demo');
  const model = path.join('models', 'demo');
  const report = path.join('reports', 'demo');
  // A demo starts fresh each time: its folders are its own.
  for (const d of [data, model, report]) rmSync(path.resolve(REPO, d), { recursive: true, force: true });
  const step = async (title: string, run: () => Promise<number>): Promise<void> => {
    process.stdout.write(`\n== ${title}\n`);
    const code = await run();
    if (code !== 0) throw new UserError(`${title} failed (exit ${code})`);
  };
  const t0 = performance.now();
  await step('1/4 gen-dataset: 160 random paper-3s2p patches', () => genDatasetMain(['--count', '160', '--seed', '0', '--out', data]));
  await step('2/4 train-cnn: the paper\'s CNN, 3 epochs (a smoke-scale training)', () => trainCnnMain(['--data', data, '--out', model, '--epochs', '3', '--batch', '16']));
  await step('3/4 train-carrier: the spectral carrier net (ours), 5 epochs', () => trainCarrierMain(['--model', model, '--epochs', '5', '--batch', '16']));
  await step('4/4 eval-nsynth: 11 real-instrument notes, one per family, with 100 renders of search per note', () =>
    evalNsynthMain(['--nsynth', path.join('test', 'fixtures', 'nsynth-mini'), '--model', model, '--out', report, '--refine', '100']),
  );
  process.stdout.write(
    `\ndemo: done in ${((performance.now() - t0) / 1000).toFixed(0)} s. Open ${path.join(report, 'index.html')} (offline HTML: tables, charts, spectrograms, audio);\n` +
      `training reports: ${path.join(model, 'report.html')}, ${path.join(model, 'carrier', 'report.html')}.\n` +
      'At full scale: npm run gen-dataset && npm run train-cnn && npm run train-carrier && npm run fetch-nsynth && npm run eval-nsynth\n',
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runCommand('demo', () => demoMain(hideBin(process.argv)));
}
