/**
 * Aggregation (paper Tables 6–9) and the CSV reports, against hand-computed numbers and exact bytes;
 * the PNG encoder against an independent decode (zlib inflate + CRC-32).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { crc32, inflateSync } from 'node:zlib';
import { aggregate, carrierCentsFromPitch, medianCarrierCentsFromPitch, metricStats, OVERALL_GROUP } from '../src/eval/aggregate.ts';
import { improvement } from '../src/eval/baselines.ts';
import { METRICS, type NoteResult, type SummaryRow } from '../src/eval/types.ts';
import { buildCsvFiles, notesCsv, skippedCsv, summaryCsv, writeReportFiles } from '../src/report/csv.ts';
import { csvNumber, familyFileStem, formatNumber, formatPercent } from '../src/report/format.ts';
import { encodePng } from '../src/report/png.ts';
import { PARAM_NAMES } from '../src/synth/params.ts';
import { expectClose } from './helpers.ts';
import { LOGMEL_CELLS, makeMeta, makeResult } from './report-fixtures.ts';

/*
 * The hand-worked example (FFT distances; STFT = 10×, log-mel = 100×, normalized = log-mel/16128):
 *
 *   note                         cnn   sine440  pitched
 *   guitar_acoustic_001-060-100   1      4        2
 *   guitar_acoustic_001-062-100   3      8        2
 *   bass_acoustic_001-040-100     5     10        4
 *   bass_acoustic_001-041-100     –     20        6     (cnn failed to render on this one)
 *
 * overall cnn:     values 1,3,5 → mean 3, sample std √((4+0+4)/2) = 2.
 *   vs sine440 on the 3 paired notes: mean 22/3 → (22/3 − 3)/(22/3) = 13/22.
 *   vs pitched on the 3 paired notes: mean 8/3 → (8/3 − 3)/(8/3) = −1/8.
 * overall sine440: 4,8,10,20 → mean 10.5, std √((42.25+6.25+0.25+90.25)/3) = √(139/3).
 * overall pitched: 2,2,4,6 → mean 3.5; vs sine440: (10.5 − 3.5)/10.5 = 2/3.
 * guitar cnn: mean 2, std √2; vs sine440 (6 − 2)/6 = 2/3; vs pitched (2 − 2)/2 = 0.
 * bass cnn: one note: mean 5, std undefined (NaN); vs sine440 (10 − 5)/10 = 0.5; vs pitched (4 − 5)/4 = −0.25.
 */
function handExample(): NoteResult[] {
  return [
    makeResult(makeMeta('guitar', 1, 60, 100), { cnn: 1, sine440: 4, pitched: 2 }),
    makeResult(makeMeta('guitar', 1, 62, 100), { cnn: 3, sine440: 8, pitched: 2 }),
    makeResult(makeMeta('bass', 1, 40, 100), { cnn: 5, sine440: 10, pitched: 4 }),
    makeResult(makeMeta('bass', 1, 41, 100), { sine440: 20, pitched: 6 }),
  ];
}

function row(rows: readonly SummaryRow[], group: string, system: string): SummaryRow {
  const r = rows.find((x) => x.group === group && x.system === system);
  assert.ok(r, `no summary row for ${group}/${system}`);
  return r;
}

/** Metric scale factors of `scaledDistances`. */
const SCALE: Record<(typeof METRICS)[number], number> = { fft: 1, stft: 10, logmel: 100, logmel_normalized: 100 / LOGMEL_CELLS };

describe('aggregate', () => {
  it('metricStats: mean and sample standard deviation (n − 1), NaN std for one value', () => {
    const s = metricStats([2, 4, 4, 4, 5, 5, 7, 9]);
    expectClose(s.mean, 5, { atol: 1e-15 }, 'mean');
    // Σ(x − 5)² = 32 → sample variance 32/7 (population would be 4, std 2).
    expectClose(s.std, Math.sqrt(32 / 7), { rtol: 1e-15 }, 'std');
    assert.equal(s.count, 8);
    const one = metricStats([3]);
    assert.equal(one.mean, 3);
    assert.ok(Number.isNaN(one.std));
    assert.ok(Number.isNaN(metricStats([]).mean));
  });

  it('improvement = (baseline − system) / baseline, NaN for a zero baseline', () => {
    // The paper's Table 6 is a ratio of means to within 0.02 percentage points: its own means give
    // 53.32 % (FFT) and 61.97 % (STFT) against the printed 53.34 % and 61.95 %, and 22.00 % (log-mel)
    // exactly; the small FFT/STFT gaps are the paper's, not ours.
    expectClose(improvement(33508.78, 15640.799), 0.5334, { atol: 3e-4 }, 'paper Table 6 FFT');
    expectClose(improvement(7290.362, 2772.46), 0.6195, { atol: 3e-4 }, 'paper Table 6 STFT');
    expectClose(improvement(184.872, 144.194), 0.22, { atol: 5e-5 }, 'paper Table 6 log-mel');
    assert.equal(improvement(4, 5), -0.25);
    assert.ok(Number.isNaN(improvement(0, 1)));
  });

  it('reproduces the hand-worked example per family and overall', () => {
    const rows = aggregate(handExample());
    assert.deepEqual(
      rows.map((r) => `${r.group}/${r.system}/${r.notes}`),
      // overall first, then families in NSynth id order (bass before guitar), systems in report order.
      ['overall/cnn/3', 'overall/sine440/4', 'overall/pitched/4', 'bass/cnn/1', 'bass/sine440/2', 'bass/pitched/2', 'guitar/cnn/2', 'guitar/sine440/2', 'guitar/pitched/2'],
    );
    const tol = { rtol: 1e-12, atol: 1e-15 };
    for (const m of METRICS) {
      const k = SCALE[m];
      const oc = row(rows, OVERALL_GROUP, 'cnn');
      expectClose(oc.stats[m].mean, 3 * k, tol, `overall cnn ${m} mean`);
      expectClose(oc.stats[m].std, 2 * k, tol, `overall cnn ${m} std`);
      expectClose(oc.improvement.sine440![m], 13 / 22, tol, `overall cnn vs sine440 ${m}`);
      expectClose(oc.improvement.pitched![m], -1 / 8, tol, `overall cnn vs pitched ${m}`);
      const os440 = row(rows, OVERALL_GROUP, 'sine440');
      expectClose(os440.stats[m].mean, 10.5 * k, tol, `overall sine440 ${m} mean`);
      expectClose(os440.stats[m].std, Math.sqrt(139 / 3) * k, tol, `overall sine440 ${m} std`);
      assert.equal(os440.improvement.sine440, undefined, 'no improvement of a baseline over itself');
      expectClose(os440.improvement.pitched![m], (3.5 - 10.5) / 3.5, tol, `overall sine440 vs pitched ${m}`);
      expectClose(row(rows, OVERALL_GROUP, 'pitched').improvement.sine440![m], 2 / 3, tol, `overall pitched vs sine440 ${m}`);
      const gc = row(rows, 'guitar', 'cnn');
      expectClose(gc.stats[m].mean, 2 * k, tol, `guitar cnn ${m} mean`);
      expectClose(gc.stats[m].std, Math.SQRT2 * k, tol, `guitar cnn ${m} std`);
      expectClose(gc.improvement.sine440![m], 2 / 3, tol, `guitar cnn vs sine440 ${m}`);
      expectClose(gc.improvement.pitched![m], 0, tol, `guitar cnn vs pitched ${m}`);
      expectClose(row(rows, 'guitar', 'pitched').stats[m].std, 0, tol, `guitar pitched ${m} std`);
      const bc = row(rows, 'bass', 'cnn');
      expectClose(bc.stats[m].mean, 5 * k, tol, `bass cnn ${m} mean`);
      assert.ok(Number.isNaN(bc.stats[m].std), 'std of a single note is undefined');
      expectClose(bc.improvement.sine440![m], 0.5, tol, `bass cnn vs sine440 ${m}`);
      expectClose(bc.improvement.pitched![m], -0.25, tol, `bass cnn vs pitched ${m}`);
    }
  });

  it('does not depend on input order, does not mutate input, refuses NaN distances', () => {
    const input = handExample();
    const snapshot = JSON.stringify(input);
    const a = aggregate(input);
    const b = aggregate(input.slice().reverse());
    assert.deepEqual(a, b);
    assert.equal(JSON.stringify(input), snapshot);
    assert.deepEqual(aggregate([]), []);
    const bad = [makeResult(makeMeta('flute', 1, 70, 50), { cnn: NaN, sine440: 1 })];
    assert.throws(() => aggregate(bad), /flute_acoustic_001-070-050: cnn fft distance is NaN/);
  });

  it('carrier vs the metadata pitch: signed cents, median of magnitudes, undefined without a patch', () => {
    const patch = (carrierHz: number): number[] => [carrierHz, ...new Array<number>(14).fill(1)];
    // A4 = MIDI 69 = 440 Hz: 880 Hz is +1200 cents, 220 Hz −1200; MIDI 60 (261.63 Hz) at 261.6256 Hz ≈ 0.
    const a = makeResult(makeMeta('flute', 1, 69, 50), { cnn: 1 }, { cnn: patch(880) });
    const b = makeResult(makeMeta('flute', 2, 69, 50), { cnn: 1 }, { cnn: patch(220) });
    const c = makeResult(makeMeta('brass', 1, 60, 50), { cnn: 1 }, { cnn: patch(261.6255653005986) });
    const none = makeResult(makeMeta('brass', 2, 60, 50), { sine440: 1 });
    expectClose(carrierCentsFromPitch(a, 'cnn')!, 1200, { atol: 1e-9 });
    expectClose(carrierCentsFromPitch(b, 'cnn')!, -1200, { atol: 1e-9 });
    expectClose(carrierCentsFromPitch(c, 'cnn')!, 0, { atol: 1e-9 });
    assert.equal(carrierCentsFromPitch(none, 'cnn'), undefined);
    expectClose(medianCarrierCentsFromPitch([a, b, c, none], 'cnn'), 1200, { atol: 1e-9 });
    assert.ok(Number.isNaN(medianCarrierCentsFromPitch([none], 'cnn')));
  });
});

describe('CSV reports', () => {
  it('summary.csv: header and exact rows', () => {
    const rows = aggregate([
      makeResult(makeMeta('guitar', 1, 60, 100), { cnn: 1, sine440: 4 }),
      makeResult(makeMeta('guitar', 1, 62, 100), { cnn: 3, sine440: 8 }),
    ]);
    const text = summaryCsv(rows);
    const lines = text.split('\n');
    assert.equal(
      lines[0],
      'group,system,notes,fft_mean,fft_std,stft_mean,stft_std,logmel_mean,logmel_std,logmel_normalized_mean,logmel_normalized_std,' +
        'improvement_vs_sine440_fft,improvement_vs_sine440_stft,improvement_vs_sine440_logmel,improvement_vs_sine440_logmel_normalized,' +
        'improvement_vs_pitched_fft,improvement_vs_pitched_stft,improvement_vs_pitched_logmel,improvement_vs_pitched_logmel_normalized',
    );
    // cnn: mean 2, std √2; stft 20, 10√2; log-mel 200, 100√2; normalized 200/16128 (computed as the
    // mean of 100/16128 and 300/16128); improvement 2/3 on all four; no pitched baseline → empty.
    const n1 = 100 / LOGMEL_CELLS;
    const n3 = 300 / LOGMEL_CELLS;
    const nMean = (n1 + n3) / 2;
    const nStd = Math.sqrt(((n1 - nMean) ** 2 + (n3 - nMean) ** 2) / 1);
    const two3 = String((6 - 2) / 6);
    // The normalized metric's fraction is 2/3 only up to the rounding of its non-integer means.
    const sMean = (400 / LOGMEL_CELLS + 800 / LOGMEL_CELLS) / 2;
    const nImpr = String((sMean - nMean) / sMean);
    const expectedCnn = ['overall', 'cnn', '2', '2', String(Math.SQRT2), '20', String(Math.sqrt(200)), '200', String(Math.sqrt(20000)), String(nMean), String(nStd), two3, two3, two3, nImpr, '', '', '', ''].join(',');
    assert.equal(lines[1], expectedCnn);
    assert.equal(lines[2].split(',').slice(0, 4).join(','), 'overall,sine440,2,6');
    assert.equal(lines[2].split(',').slice(11).join(','), ',,,,,,,', 'no improvement of sine440 over itself nor over an absent pitched baseline');
    assert.equal(lines[3].split(',')[0], 'guitar');
    assert.equal(lines.length, 6, '4 rows + header + final empty line');
    assert.equal(lines[5], '');
  });

  it('notes.csv: metadata, distances, predicted and snapped parameters, empty cells for missing values', () => {
    const pred = PARAM_NAMES.map((_, i) => i + 0.5);
    // Carrier one octave above MIDI 60 (261.6256 Hz): +1200 cents from the pitch.
    const snap = PARAM_NAMES.map((_, i) => (i === 0 ? 2 * 440 * 2 ** (-9 / 12) : i));
    const a: NoteResult = { ...makeResult(makeMeta('guitar', 1, 60, 100), { cnn: 1.25, sine440: 4 }), predicted: { cnn: pred }, snapped: { cnn: snap } };
    const b = makeResult(makeMeta('bass', 2, 40, 75, 'electronic'), { sine440: 10 });
    const text = notesCsv([a, b]);
    const lines = text.split('\n');
    const header = lines[0].split(',');
    assert.deepEqual(header.slice(0, 16), [
      'note_str', 'instrument_str', 'family', 'source', 'pitch', 'velocity',
      'cnn_fft', 'cnn_stft', 'cnn_logmel', 'cnn_logmel_normalized',
      'sine440_fft', 'sine440_stft', 'sine440_logmel', 'sine440_logmel_normalized',
      'cnn_carrier_cents_from_pitch', 'cnn_pred_carrier_hz',
    ]);
    assert.equal(header.length, 6 + 2 * 4 + 1 + 2 * 15, 'no pitched or ddx7 columns when absent');
    assert.ok(header.includes('cnn_snap_release_s'));
    assert.equal(header.indexOf('cnn_snap_carrier_hz'), 6 + 8 + 1 + 15);
    // Sorted by note_str: bass_… before guitar_….
    assert.equal(
      lines[1],
      ['bass_electronic_002-040-075', 'bass_electronic_002', 'bass', 'electronic', '40', '75', '', '', '', '', '10', '100', '1000', String(1000 / LOGMEL_CELLS), ...Array(31).fill('')].join(','),
    );
    assert.equal(
      lines[2],
      ['guitar_acoustic_001-060-100', 'guitar_acoustic_001', 'guitar', 'acoustic', '60', '100', '1.25', '12.5', '125', String(125 / LOGMEL_CELLS),
        '4', '40', '400', String(400 / LOGMEL_CELLS), lines[2].split(',')[14], ...pred.map(String), ...snap.map(String)].join(','),
    );
    expectClose(Number(lines[2].split(',')[14]), 1200, { atol: 1e-9 }, 'cnn_carrier_cents_from_pitch');
    assert.equal(lines.length, 4);
    assert.throws(() => notesCsv([{ ...a, snapped: { cnn: [1, 2] } }]), /cnn snapped parameters have length 2, expected 15/);
  });

  it('skipped.csv quotes per RFC 4180 and sorts by id', () => {
    const text = skippedCsv([
      { id: 'reed_acoustic_000-050-127', reason: 'WAV sample rate is 44100 Hz, expected 16000' },
      { id: 'brass_acoustic_001-060-100', reason: 'audio/brass_acoustic_001-060-100.wav is missing, "listed" in examples.json' },
    ]);
    assert.equal(
      text,
      'id,reason\n' +
        'brass_acoustic_001-060-100,"audio/brass_acoustic_001-060-100.wav is missing, ""listed"" in examples.json"\n' +
        'reed_acoustic_000-050-127,"WAV sample rate is 44100 Hz, expected 16000"\n',
    );
    assert.equal(skippedCsv([]), 'id,reason\n');
  });

  it('buildCsvFiles: one file per family with notes.csv columns; identical bytes for any input order; written to disk', async () => {
    const results = handExample();
    const skipped = [{ id: 'x', reason: 'r' }];
    const files = buildCsvFiles(results, skipped);
    assert.deepEqual(files.map((f) => f.name), ['notes.csv', 'bass.csv', 'guitar.csv', 'summary.csv', 'skipped.csv']);
    const notes = files[0].content.split('\n');
    const bass = files[1].content.split('\n');
    assert.equal(bass[0], notes[0], 'family file has the same columns as notes.csv');
    assert.equal(bass.length, 2 + 2);
    assert.ok(bass[1].startsWith('bass_acoustic_001-040-100,'));
    assert.ok(bass[2].startsWith('bass_acoustic_001-041-100,bass_acoustic_001,bass,acoustic,41,100,,,,,20,'), 'empty cnn cells for the failed render');
    const again = buildCsvFiles(results.slice().reverse(), skipped);
    assert.deepEqual(again, files);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fmmatch-csv-'));
    try {
      const written = await writeReportFiles(dir, files);
      assert.equal(written.length, 5);
      assert.equal(await readFile(path.join(dir, 'summary.csv'), 'utf8'), files[3].content);
      await assert.rejects(writeReportFiles(dir, [{ name: '../escape.csv', content: '' }]), /not a plain file name/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('report formatting helpers', () => {
  it('numbers, percentages and file stems', () => {
    assert.equal(csvNumber(-0), '0');
    assert.equal(csvNumber(NaN), '');
    assert.equal(csvNumber(0.1 + 0.2), '0.30000000000000004');
    assert.equal(formatNumber(15640.799), '15\u202f641');
    assert.equal(formatNumber(144.194), '144.2');
    assert.equal(formatNumber(0.0089412), '0.008941');
    assert.equal(formatNumber(-2.5), '−2.500');
    assert.equal(formatNumber(NaN), '—');
    assert.equal(formatPercent(0.53341), '53.34\u00a0%');
    assert.equal(formatPercent(-0.00001), '0.00\u00a0%');
    assert.equal(formatPercent(-0.125), '−12.50\u00a0%');
    assert.equal(familyFileStem('guitar'), 'guitar');
    assert.equal(familyFileStem('../etc'), '___etc');
    assert.equal(familyFileStem('index'), 'family_index');
  });
});

describe('PNG encoder', () => {
  it('writes a valid greyscale and RGB PNG (signature, IHDR, CRCs, inflated scanlines)', () => {
    for (const channels of [1, 3] as const) {
      const width = 3;
      const height = 2;
      const data = Uint8Array.from({ length: width * height * channels }, (_, i) => (i * 37) % 256);
      const png = encodePng({ width, height, channels, data });
      assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
      const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
      // Walk the chunks, checking each CRC independently.
      let offset = 8;
      const chunks: { type: string; data: Uint8Array }[] = [];
      while (offset < png.length) {
        const len = view.getUint32(offset);
        const type = String.fromCharCode(...png.subarray(offset + 4, offset + 8));
        const body = png.subarray(offset + 8, offset + 8 + len);
        assert.equal(view.getUint32(offset + 8 + len), crc32(png.subarray(offset + 4, offset + 8 + len)) >>> 0, `${type} CRC`);
        chunks.push({ type, data: body });
        offset += 12 + len;
      }
      assert.deepEqual(chunks.map((c) => c.type), ['IHDR', 'IDAT', 'IEND']);
      const ihdr = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset, 13);
      assert.equal(ihdr.getUint32(0), width);
      assert.equal(ihdr.getUint32(4), height);
      assert.equal(chunks[0].data[8], 8);
      assert.equal(chunks[0].data[9], channels === 1 ? 0 : 2);
      const raw = inflateSync(chunks[1].data);
      assert.equal(raw.length, (width * channels + 1) * height);
      for (let y = 0; y < height; y++) {
        assert.equal(raw[y * (width * channels + 1)], 0, 'filter type none');
        assert.deepEqual([...raw.subarray(y * (width * channels + 1) + 1, (y + 1) * (width * channels + 1))], [...data.subarray(y * width * channels, (y + 1) * width * channels)]);
      }
    }
    assert.throws(() => encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array(3) }), /expected 4/);
  });
});
