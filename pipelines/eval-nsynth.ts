/**
 * `npm run eval-nsynth`: resynthesize NSynth notes with a trained CNN and report per instrument
 * family (CSV + offline HTML). Thin: parse, load, call src/eval and src/report, print a summary.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { hideBin } from 'yargs/helpers';
import { onInterrupt, parseArgs } from '../src/cli/args.ts';
import { createProgress, type Progress } from '../src/cli/progress.ts';
import { EXIT_INTERRUPTED, runCommand, UserError } from '../src/cli/run.ts';
import { encodeWavPcm16 } from '../src/dsp/wav.ts';
import { aggregate, medianCarrierCentsFromPitch } from '../src/eval/aggregate.ts';
import { pitchedSineBaseline, sine440Baseline } from '../src/eval/baselines.ts';
import { collectAudio, evaluateNsynth } from '../src/eval/evaluate.ts';
import { renderSnapped } from '../src/eval/resynth.ts';
import type { NoteResult, SystemName } from '../src/eval/types.ts';
import { prepareSignal } from '../src/features/distances.ts';
import { BACKEND_CHOICES, type BackendChoice, describeBackend, initBackend } from '../src/model/backend.ts';
import { loadDdx7, renderNoteDdx7 } from '../src/model/ddx7-predict.ts';
import { loadCnn } from '../src/model/predict.ts';
import { type NsynthFilters, validateFilters } from '../src/nsynth/meta.ts';
import { openNsynth } from '../src/nsynth/open.ts';
import { defaultWorkerCount } from '../src/parallel/pool.ts';
import { pickExampleNotes, type AudioSource } from '../src/report/html.ts';
import { writeReport } from '../src/report/report.ts';
import { checkReportFolder, isWithinFolder, realReportPath, replaceReportFolder } from '../src/report/report-folder.ts';
import { writeFileAtomic } from '../src/dataset/patch-file.ts';

const DEFAULT_NSYNTH = path.join('datasets', 'nsynth', 'nsynth-test');
const DEFAULT_MODEL = path.join('models', 'cnn_paper-3s2p_n5000_seed0_seed0');

const list = (v: string | undefined): string[] | undefined => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));

export async function evalNsynthMain(argv: readonly string[]): Promise<number> {
  const args = await parseArgs(argv, 'npm run eval-nsynth --', '$0 [options]\n\nPredict FM patches for NSynth notes with a trained CNN, snap them, re-render, and compare with the notes\n(FFT, STFT, log-mel distances) beside the sine-440 and pitched-sine baselines. Writes notes.csv, <family>.csv,\nsummary.csv, skipped.csv and an offline HTML report (index.html + one page per family) into --out.', (y) =>
    y.options({
      nsynth: { type: 'string', default: DEFAULT_NSYNTH, describe: 'NSynth jsonwav folder (examples.json + audio/) or .tfrecord file' },
      model: { type: 'string', default: DEFAULT_MODEL, describe: 'train-cnn output folder' },
      ddx7: { type: 'string', describe: 'also resynthesize with a train-ddx7 model folder (f0 from the metadata pitch, the note\'s loudness)' },
      out: { type: 'string', describe: 'report folder [default: reports/<model>_on_<nsynth>]' },
      families: { type: 'string', describe: 'only these families, comma-separated (e.g. brass,reed)' },
      sources: { type: 'string', describe: 'only these sources (acoustic, electronic, synthetic)' },
      'pitch-min': { type: 'number', describe: 'lowest MIDI pitch' },
      'pitch-max': { type: 'number', describe: 'highest MIDI pitch' },
      limit: { type: 'number', describe: 'at most this many notes (in note_str order)' },
      workers: { type: 'number', default: defaultWorkerCount(), describe: 'worker threads for rendering and distances' },
      backend: { type: 'string', default: 'auto', choices: [...BACKEND_CHOICES], describe: 'tfjs backend for the CNN' },
      threads: { type: 'number', default: 1, describe: 'wasm threads for the CNN (1: the worker threads use the other cores; idle XNNPACK threads spin and would steal them)' },
      'spectral-carrier': { type: 'boolean', default: true, describe: "take the carrier from the model's spectral carrier net (<model>/carrier/, from train-carrier) when it has one; --no-spectral-carrier: the CNN's own" },
      'pitch-carrier': { type: 'boolean', default: false, describe: "also render the CNN's patch with its carrier at the note's metadata pitch (system cnn_pitch, ours): how much of the CNN's distance is pitch" },
      refine: { type: 'number', default: 0, describe: "renders per note for a search from the CNN's patch towards a closer one (system cnn_refined, ours; e.g. 300); 0: off" },
      'write-audio': { type: 'boolean', default: false, describe: 'also write every resynthesized note to <out>/audio/<note_str>.<system>.wav (cnn; cnn_pitch, cnn_refined, ddx7 when asked for)' },
      quiet: { type: 'boolean', default: false, describe: 'no progress output' },
    }),
  );
  if (args === null) return 0;

  const nsynthPath = path.resolve(args.nsynth);
  if (!existsSync(nsynthPath)) {
    if (args.nsynth === DEFAULT_NSYNTH) {
      throw new UserError(
        `no NSynth at ${DEFAULT_NSYNTH}: run 'npm run fetch-nsynth' to download the official test split (4,096 notes) there, ` +
          `or pass --nsynth <folder with examples.json | file.tfrecord> (e.g. --nsynth test/fixtures/nsynth-mini)`,
      );
    }
    throw new UserError(`--nsynth ${args.nsynth}: no such folder or file`);
  }
  const modelDir = path.resolve(args.model);
  if (!existsSync(modelDir)) {
    throw new UserError(`--model ${args.model}: no such folder; train one with 'npm run train-cnn' (or pass --model <train-cnn output folder>)`);
  }
  if (!Number.isInteger(args.workers) || args.workers < 1) throw new UserError(`--workers must be a positive integer, got ${args.workers}`);
  if (!Number.isInteger(args.refine) || args.refine < 0) throw new UserError(`--refine must be a whole number of renders ≥ 0, got ${args.refine}`);
  let filters: NsynthFilters;
  try {
    filters = validateFilters({ families: list(args.families), sources: list(args.sources), pitchMin: args['pitch-min'], pitchMax: args['pitch-max'], limit: args.limit });
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const backend = await initBackend({ backend: args.backend as BackendChoice, threads: args.threads });
  const cnn = await loadCnn(modelDir, { spectralCarrier: args['spectral-carrier'] }).catch((e: unknown) => {
    throw new UserError((e as Error).message);
  });
  const ddx7 = args.ddx7 === undefined ? null : (() => {
    try {
      return loadDdx7(path.resolve(args.ddx7));
    } catch (e) {
      throw new UserError(`--ddx7: ${(e as Error).message}`);
    }
  })();
  const outGiven = path.resolve(args.out ?? path.join('reports', `${path.basename(modelDir)}_on_${path.basename(nsynthPath).replace(/\.tfrecord$/, '')}`));
  // The folder is written only once there are results, but whether it may be (absent, empty or a
  // previous report, writable; not a link to nothing; not inside the notes) is known now, not after
  // hours of --refine.
  let outDir: string;
  try {
    // The report replaces the folder by a rename: through a symbolic link that would replace the
    // link, and leave the previous report where it points. Real paths also when --out does not
    // exist yet, or a link to the NSynth folder would hide that the report goes inside it.
    outDir = realReportPath(outGiven);
    if (isWithinFolder(outDir, nsynthPath)) throw new Error(`${outDir} is inside the NSynth folder ${nsynthPath}; write the report elsewhere`);
    checkReportFolder(outDir);
  } catch (e) {
    throw new UserError(`--out ${(e as Error).message}`);
  }
  // Which carrier the `cnn` system uses, said in the log, the summary line and the report.
  const carrierBy = {
    net: 'the spectral carrier net (<model>/carrier/, ours)',
    cnn: 'the CNN (the paper)',
    'cnn-net-unfinished': 'the CNN: the model’s carrier net has not finished training',
    'cnn-net-off': 'the CNN (--no-spectral-carrier)',
  }[cnn.carrierSource];
  if (!args.quiet) process.stderr.write(`eval-nsynth: model ${path.relative(process.cwd(), modelDir)} (${cnn.synth.algorithm}; carrier by ${carrierBy}); ${describeBackend(backend)}; ${args.workers} workers\n`);

  const interrupt = onInterrupt('eval-nsynth', "stopping after the notes in flight; a report of what is done will be written");
  let bar: Progress | null = null;
  try {
    const out = await evaluateNsynth({
      nsynthPath,
      filters,
      cnn,
      workers: args.workers,
      pitchCarrier: args['pitch-carrier'],
      refineEvaluations: args.refine,
      renderers: ddx7 ? { ddx7: (a, pitch) => renderNoteDdx7(ddx7, a, pitch) } : {},
      signal: interrupt.signal,
      onProgress: (done, total) => {
        bar ??= createProgress({ label: 'eval-nsynth', unit: 'notes', total, quiet: args.quiet });
        bar.update(done);
      },
    }).catch((e: unknown) => {
      throw e instanceof UserError ? e : new UserError((e as Error).message);
    });
    (bar as Progress | null)?.stop();
    if (out.results.length === 0 && out.skipped.length === 0 && !interrupt.signal.aborted) throw new UserError(`no note of ${nsynthPath} matches the filters`);
    if (out.results.length === 0) throw new UserError(`no note could be evaluated (${out.skipped.length} skipped${out.skipped[0] ? `; first: ${out.skipped[0].id}: ${out.skipped[0].reason}` : ''})`);
    const summary = aggregate(out.results);
    const carrierCents = medianCarrierCentsFromPitch(out.results, 'cnn').toFixed(0);
    // Audio only for the notes the HTML shows (best, median, worst per family), read again.
    const families = [...new Set(out.results.map((r) => r.meta.instrument_family_str))];
    const shown = new Set(families.flatMap((f) => pickExampleNotes(out.results.filter((r) => r.meta.instrument_family_str === f), 'cnn').map((p) => p.result.meta.note_str)));
    const originals = await collectAudio(nsynthPath, filters, shown);
    const sine440 = sine440Baseline();
    const audio = async (note: NoteResult, source: AudioSource): Promise<Float32Array | null> => {
      const orig = originals.get(note.meta.note_str);
      if (source === 'original') return orig ?? null;
      if (source === 'ddx7') return ddx7 && orig ? renderNoteDdx7(ddx7, orig, note.meta.pitch) : null;
      if (source === 'sine440') return Float32Array.from(sine440);
      if (source === 'pitched') return orig ? Float32Array.from(pitchedSineBaseline(prepareSignal(orig), note.meta.pitch)) : null;
      const snapped = note.snapped[source as SystemName];
      return snapped ? renderSnapped(cnn.synth, snapped) : null;
    };
    // Written only now, into a fresh folder that then replaces --out whole: a run that fails before
    // it has a result leaves no report folder, and a previous report in --out leaves no file behind.
    const written = await replaceReportFolder(outDir, async (into) => {
      const report = await writeReport(into, {
        results: out.results,
        skipped: out.skipped,
        summary,
        audio,
        mainSystem: 'cnn',
        run: {
          name: path.basename(outDir),
          facts: [
            ['model', path.relative(process.cwd(), modelDir)],
            ...(ddx7 ? ([['DDX7 model', `${path.relative(process.cwd(), path.resolve(args.ddx7 as string))} (patch ${ddx7.file.config.patch})`]] as [string, string][]) : []),
            ['synth', `${cnn.synth.algorithm}, ${cnn.synth.sampleRate} Hz`],
            ['carrier of the cnn system predicted by', carrierBy],
            ['cnn carrier vs the notes’ pitch', `median |error| ${carrierCents} cents (notes.csv: cnn_carrier_cents_from_pitch)`],
            ['notes', `${path.relative(process.cwd(), nsynthPath)} (${out.form}); ${out.results.length} evaluated, ${out.skipped.length} skipped${out.interrupted ? ', interrupted' : ''}`],
            ['backend', describeBackend(backend)],
            ['date', new Date().toISOString()],
          ],
        },
      });
      if (args['write-audio']) {
        const dir = path.join(into, 'audio');
        mkdirSync(dir, { recursive: true });
        for (const r of out.results) {
          for (const system of ['cnn', 'cnn_pitch', 'cnn_refined'] as const) {
            const snapped = r.snapped[system];
            if (snapped) writeFileAtomic(path.join(dir, `${r.meta.note_str}.${system}.wav`), encodeWavPcm16(renderSnapped(cnn.synth, snapped), cnn.synth.sampleRate, cnn.synth.outputGain));
          }
        }
        if (ddx7) {
          // DDX7 needs each original again (its loudness drives the decoder): stream them, one at a time.
          const evaluated = new Set(out.results.map((r) => r.meta.note_str));
          for await (const entry of await openNsynth(nsynthPath, filters)) {
            if (entry.kind !== 'note' || !evaluated.has(entry.note.meta.note_str)) continue;
            const y = await renderNoteDdx7(ddx7, entry.note.audio, entry.note.meta.pitch);
            let peak = 0;
            for (const v of y) peak = Math.max(peak, Math.abs(v));
            // The synth's output is not bounded by 1 (reverb adds to the dry path): scale down rather than clip.
            writeFileAtomic(path.join(dir, `${entry.note.meta.note_str}.ddx7.wav`), encodeWavPcm16(y, cnn.synth.sampleRate, peak > 0.99 ? 0.99 / peak : 1));
          }
        }
      }
      return report;
    }, { model: modelDir, nsynth: nsynthPath, date: new Date().toISOString() });
    const pctOf = (system: SystemName, base: SystemName, m: 'fft' | 'stft' | 'logmel'): string => {
      const v = summary.find((s) => s.group === 'overall' && s.system === system)?.improvement[base]?.[m];
      return v === undefined ? '-' : `${(100 * v).toFixed(1)} %`;
    };
    const pct = (base: SystemName, m: 'fft' | 'stft' | 'logmel'): string => pctOf('cnn', base, m);
    process.stdout.write(
      `eval-nsynth: ${out.results.length} notes evaluated, ${out.skipped.length} skipped, in ${out.seconds.toFixed(1)} s; ` +
        `carrier by ${carrierBy}, vs the notes' pitch: median |error| ${carrierCents} cents; ` +
        `CNN improvement over sine-440 FFT ${pct('sine440', 'fft')}, STFT ${pct('sine440', 'stft')}, log-mel ${pct('sine440', 'logmel')} ` +
        `(paper: 53.34 / 61.95 / 22.00 %); over pitched sine FFT ${pct('pitched', 'fft')}, STFT ${pct('pitched', 'stft')}, log-mel ${pct('pitched', 'logmel')} ` +
        `${args['pitch-carrier'] ? `; CNN patch at the note's pitch: over sine-440 log-mel ${pctOf('cnn_pitch', 'sine440', 'logmel')}, over pitched sine FFT ${pctOf('cnn_pitch', 'pitched', 'fft')}, STFT ${pctOf('cnn_pitch', 'pitched', 'stft')}, log-mel ${pctOf('cnn_pitch', 'pitched', 'logmel')}` : ''}` +
        `${args.refine ? `; refined patch (${args.refine} renders per note): over sine-440 FFT ${pctOf('cnn_refined', 'sine440', 'fft')}, STFT ${pctOf('cnn_refined', 'sine440', 'stft')}, log-mel ${pctOf('cnn_refined', 'sine440', 'logmel')}, over pitched sine FFT ${pctOf('cnn_refined', 'pitched', 'fft')}, STFT ${pctOf('cnn_refined', 'pitched', 'stft')}, log-mel ${pctOf('cnn_refined', 'pitched', 'logmel')}` : ''}` +
        `${ddx7 ? `; DDX7 improvement over sine-440 log-mel ${pctOf('ddx7', 'sine440', 'logmel')}, over pitched sine log-mel ${pctOf('ddx7', 'pitched', 'logmel')}` : ''} ` +
        `→ ${path.relative(process.cwd(), path.join(outDir, path.basename(written.html[0])))}\n`,
    );
    if (out.interrupted) return EXIT_INTERRUPTED;
    return 0;
  } finally {
    interrupt.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runCommand('eval-nsynth', () => evalNsynthMain(hideBin(process.argv)));
}
