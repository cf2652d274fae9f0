/**
 * NSynth readers and fetch-nsynth: the fixture read in full from both forms (jsonwav and a TFRecord
 * built from it), filters, refusal of note names that would leave the folder, one error or one
 * counted skip per kind of bad input, CRC-32C, and the download against a loopback HTTP server
 * (full, resumed after a dropped connection, size mismatch, 404).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as tar from 'tar';
import { UserError } from '../src/cli/run.ts';
import { decodeWav, encodeWavPcm16 } from '../src/dsp/wav.ts';
import { crc32c, maskCrc } from '../src/nsynth/crc32c.ts';
import { downloadFile } from '../src/nsynth/download.ts';
import { decodeExample, encodeExample } from '../src/nsynth/example-proto.ts';
import { collectNsynth, NsynthError, type NoteSkip, type NsynthFilters } from '../src/nsynth/meta.ts';
import { openNsynth } from '../src/nsynth/open.ts';
import { frameTfRecord, readTfRecords, writeNsynthTfRecord } from '../src/nsynth/tfrecord.ts';
import type { Note, NoteMeta } from '../src/nsynth/types.ts';
import { fetchNsynthMain } from '../pipelines/fetch-nsynth.ts';
import { SHARED_DIR, tempDir } from './helpers.ts';

const FIXTURE = path.join(SHARED_DIR, 'fixtures', 'nsynth-gm');
const tmpRoot = tempDir('fmmatch-nsynth-test-');

const examples = (): Record<string, NoteMeta> => JSON.parse(readFileSync(path.join(FIXTURE, 'examples.json'), 'utf8')) as Record<string, NoteMeta>;
const sortedKeys = (o: object): string[] => Object.keys(o).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** A jsonwav folder holding the named fixture notes (all when `ids` is omitted), with `edit` applied to the metadata. */
function makeDataset(name: string, ids?: readonly string[], edit?: (ex: Record<string, unknown>) => void): string {
  const dir = path.join(tmpRoot, name);
  mkdirSync(path.join(dir, 'audio'), { recursive: true });
  const all = examples();
  const ex: Record<string, unknown> = {};
  for (const id of ids ?? Object.keys(all)) {
    ex[id] = all[id];
    copyFileSync(path.join(FIXTURE, 'audio', `${id}.wav`), path.join(dir, 'audio', `${id}.wav`));
  }
  edit?.(ex);
  writeFileSync(path.join(dir, 'examples.json'), JSON.stringify(ex, null, 1));
  return dir;
}

/** A 16-bit PCM WAV with any channel count (encodeWavPcm16 writes mono only). */
function wavPcm16(frames: number, channels: number, sampleRate: number): Uint8Array {
  const dataBytes = frames * channels * 2;
  const b = Buffer.alloc(44 + dataBytes);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(channels, 22);
  b.writeUInt32LE(sampleRate, 24);
  b.writeUInt32LE(sampleRate * channels * 2, 28);
  b.writeUInt16LE(channels * 2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < frames * channels; i++) b.writeInt16LE(Math.round(8000 * Math.sin(i / 10)), 44 + 2 * i);
  return b;
}

function assertOneLine(msg: string): void {
  assert.ok(!msg.includes('\n'), `message is one line: ${msg}`);
}

let fixtureNotes: Note[];

describe('jsonwav reader', () => {
  test('reads the whole fixture: 51 notes in note_str order, metadata as in examples.json, audio as decodeWav gives it', async () => {
    const reader = await openNsynth(FIXTURE);
    assert.equal(reader.form, 'jsonwav');
    assert.equal(reader.count, 51);
    const { notes, skips } = await collectNsynth(reader);
    assert.deepEqual(skips, []);
    const ex = examples();
    assert.deepEqual(notes.map((n) => n.meta.note_str), sortedKeys(ex));
    for (const n of notes) {
      assert.deepEqual({ ...n.meta, qualities: [...n.meta.qualities], qualities_str: [...n.meta.qualities_str] }, ex[n.meta.note_str]);
      const expected = decodeWav(readFileSync(path.join(FIXTURE, 'audio', `${n.meta.note_str}.wav`))).samples;
      assert.equal(n.audio.length, 64000);
      assert.deepEqual(n.audio, expected, n.meta.note_str);
    }
    fixtureNotes = notes;
  });

  test('filters by family, source, pitch range and limit; the stream is a prefix of the unfiltered one', async () => {
    const ex = Object.values(examples());
    const ids = async (f: NsynthFilters): Promise<string[]> => (await collectNsynth(await openNsynth(FIXTURE, f))).notes.map((n) => n.meta.note_str);
    const expect = (pred: (m: NoteMeta) => boolean): string[] => ex.filter(pred).map((m) => m.note_str).sort();
    assert.deepEqual(await ids({ families: ['brass', 'vocal'] }), expect((m) => m.instrument_family_str === 'brass' || m.instrument_family_str === 'vocal'));
    assert.equal((await ids({ families: ['brass'] })).length, 6);
    assert.deepEqual(await ids({ sources: ['electronic'] }), expect((m) => m.instrument_source === 1));
    assert.deepEqual(await ids({ pitchMin: 60, pitchMax: 67 }), expect((m) => m.pitch >= 60 && m.pitch <= 67));
    assert.deepEqual(await ids({ limit: 5 }), sortedKeys(examples()).slice(0, 5));
    assert.deepEqual(
      await ids({ families: ['reed'], sources: ['acoustic'], pitchMin: 65, limit: 2 }),
      expect((m) => m.instrument_family_str === 'reed' && m.pitch >= 65).slice(0, 2),
    );
    await assert.rejects(openNsynth(FIXTURE, { families: ['kazoo'] }), /unknown family 'kazoo'/);
    await assert.rejects(openNsynth(FIXTURE, { pitchMin: 80, pitchMax: 70 }), /--pitch-min 80 is above --pitch-max 70/);
    await assert.rejects(openNsynth(FIXTURE, { limit: 0 }), /limit must be/);
  });

  test('a note_str never leads outside the folder: separators, "..", absolute paths and NUL are skipped, never opened', async () => {
    const base = examples()['brass_acoustic_056-060-100'];
    // A valid WAV outside the dataset, where "../secret" would land: reading it would give a note.
    const dir = makeDataset('traversal', ['brass_acoustic_056-060-100'], (ex) => {
      for (const bad of ['../secret', '../../secret', '/etc/passwd', `${tmpRoot}/secret`, 'a/b', 'a\\b', 'x\0y', '..', 'C:evil']) {
        ex[bad] = { ...base, note_str: bad };
      }
      // A safe key whose note_str points elsewhere: refused for the mismatch.
      ex['brass_acoustic_056-061-100'] = { ...base, pitch: 61, note_str: '../secret' };
    });
    writeFileSync(path.join(tmpRoot, 'secret.wav'), encodeWavPcm16(new Float32Array(64000), 16000));
    writeFileSync(path.join(dir, 'secret.wav'), encodeWavPcm16(new Float32Array(64000), 16000));
    const { notes, skips } = await collectNsynth(await openNsynth(dir));
    assert.deepEqual(notes.map((n) => n.meta.note_str), ['brass_acoustic_056-060-100']);
    assert.equal(skips.length, 10);
    for (const s of skips) assertOneLine(s.reason);
    assert.equal(skips.filter((s) => /is not a plain file name/.test(s.reason)).length, 9);
    assert.match(skips.find((s) => s.id === 'brass_acoustic_056-061-100')?.reason ?? '', /does not match instrument, pitch and velocity/);
  });

  describe('bad input', () => {
    const id = 'guitar_acoustic_024-052-100';
    const ids = [id, 'guitar_acoustic_024-064-100'];

    test('whole-dataset problems are one-line errors naming examples.json', async () => {
      const missing = path.join(tmpRoot, 'no-examples');
      mkdirSync(path.join(missing, 'audio'), { recursive: true });
      const cases: [string, string | null, RegExp][] = [
        ['no-examples', null, /no-examples\/examples\.json: not found/],
        ['bad-json', '{"a": ', /bad-json\/examples\.json: not valid JSON/],
        ['empty-file', '', /empty-file\/examples\.json: is empty/],
        ['empty-object', '{}', /empty-object\/examples\.json: lists no notes/],
        ['array', '[1, 2]', /array\/examples\.json: is not a JSON object keyed by note_str/],
      ];
      for (const [name, content, re] of cases) {
        const dir = path.join(tmpRoot, name);
        mkdirSync(dir, { recursive: true });
        if (content !== null) writeFileSync(path.join(dir, 'examples.json'), content);
        const err = await openNsynth(dir).then(() => null, (e: unknown) => e as Error);
        assert.ok(err instanceof NsynthError, `${name}: an NsynthError`);
        assert.match(err.message, re);
        assertOneLine(err.message);
      }
      // A folder holding what fetch-nsynth extracts gets pointed at it.
      const parent = path.join(tmpRoot, 'parent');
      mkdirSync(path.join(parent, 'nsynth-test'), { recursive: true });
      await assert.rejects(openNsynth(parent), /did you mean .*nsynth-test\?/);
      await assert.rejects(openNsynth(path.join(tmpRoot, 'nowhere')), /nowhere: not found/);
    });

    const skipCases: [string, (dir: string) => void, RegExp][] = [
      ['note without its WAV', (dir) => rmSync(path.join(dir, 'audio', `${id}.wav`)), /^audio\/guitar_acoustic_024-052-100\.wav: missing$/],
      ['corrupt WAV', (dir) => writeFileSync(path.join(dir, 'audio', `${id}.wav`), Buffer.from('RIFF\x10\x00\x00\x00WAVEjunkjunkjunk', 'latin1')), /\.wav: corrupt WAV file/],
      ['not a WAV at all', (dir) => writeFileSync(path.join(dir, 'audio', `${id}.wav`), 'hello'), /\.wav: not a WAV file/],
      ['44.1 kHz WAV', (dir) => writeFileSync(path.join(dir, 'audio', `${id}.wav`), wavPcm16(64000, 1, 44100)), /\.wav: is 44100 Hz, expected 16000 Hz/],
      ['stereo WAV', (dir) => writeFileSync(path.join(dir, 'audio', `${id}.wav`), wavPcm16(64000, 2, 16000)), /\.wav: has 2 channels, expected mono/],
      ['wrong length', (dir) => writeFileSync(path.join(dir, 'audio', `${id}.wav`), encodeWavPcm16(new Float32Array(32000), 16000)), /\.wav: has 32000 samples, expected 64000/],
    ];
    for (const [name, spoil, re] of skipCases) {
      test(`${name}: a counted skip naming the file, the other notes still read`, async () => {
        const dir = makeDataset(`skip-${name.replace(/\W+/g, '-')}`, ids);
        spoil(dir);
        const reader = await openNsynth(dir);
        assert.equal(reader.count, 2);
        const { notes, skips } = await collectNsynth(reader);
        assert.deepEqual(notes.map((n) => n.meta.note_str), ['guitar_acoustic_024-064-100']);
        assert.equal(skips.length, 1);
        assert.equal(skips[0].id, id);
        assert.match(skips[0].reason, re);
        assertOneLine(skips[0].reason);
      });
    }

    test('invalid metadata, field by field: counted skips naming the field', async () => {
      const cases: [string, (m: Record<string, unknown>) => void, RegExp][] = [
        ['missing key', (m) => delete m.velocity, /no 'velocity'/],
        ['pitch range', (m) => (m.pitch = 200), /'pitch' must be an integer 0–127, got 200/],
        ['pitch type', (m) => (m.pitch = '52'), /'pitch' must be an integer/],
        ['family string', (m) => (m.instrument_family_str = 'bass'), /'instrument_family_str' is 'bass' but family 3 is 'guitar'/],
        ['source id', (m) => (m.instrument_source = 7), /'instrument_source' must be an integer 0–2/],
        ['sample rate', (m) => (m.sample_rate = 44100), /'sample_rate' must be 16000/],
        ['qualities', (m) => (m.qualities = [1, 0]), /'qualities' must be 10 flags/],
        ['qualities_str', (m) => (m.qualities_str = ['bright']), /does not match the flags/],
        ['instrument_str', (m) => (m.instrument_str = 'guitar_synthetic_024'), /'instrument_str' .* is not 'guitar_acoustic_NNN'/],
      ];
      for (const [name, edit, re] of cases) {
        const dir = makeDataset(`meta-${name.replace(/\W+/g, '-')}`, ids, (ex) => {
          const m = { ...(ex[id] as Record<string, unknown>) };
          edit(m);
          ex[id] = m;
        });
        const { notes, skips } = await collectNsynth(await openNsynth(dir));
        assert.equal(notes.length, 1, name);
        assert.equal(skips.length, 1, name);
        assert.match(skips[0].reason, /^examples\.json: /, name);
        assert.match(skips[0].reason, re, name);
      }
      // Under filters, a broken entry is reported when its name may match, left out when its name
      // shows it cannot.
      const broken = makeDataset('meta-filtered', ids, (ex) => {
        ex[id] = { ...(ex[id] as object), pitch: 'x' };
      });
      const guitars = await collectNsynth(await openNsynth(broken, { families: ['guitar'] }));
      assert.deepEqual([guitars.notes.length, guitars.skips.map((k) => k.id)], [1, [id]]);
      const brass = await collectNsynth(await openNsynth(broken, { families: ['brass'] }));
      assert.deepEqual([brass.notes.length, brass.skips.length], [0, 0]);
      const high = await collectNsynth(await openNsynth(broken, { pitchMin: 60 }));
      assert.deepEqual([high.notes.length, high.skips.length], [1, 0]);
      // Qualities that agree with their names are accepted, in any list order.
      const ok = makeDataset('meta-qualities-ok', ids, (ex) => {
        ex[id] = { ...(ex[id] as object), qualities: [1, 0, 0, 0, 0, 0, 0, 1, 0, 0], qualities_str: ['percussive', 'bright'] };
      });
      assert.equal((await collectNsynth(await openNsynth(ok))).notes.length, 2);
    });
  });
});

describe('TFRecord', () => {
  let tfr: string;
  before(async () => {
    tfr = path.join(tmpRoot, 'fixture.tfrecord');
    if (!fixtureNotes) fixtureNotes = (await collectNsynth(await openNsynth(FIXTURE))).notes;
    // Written in reverse so the reader's note_str ordering is exercised.
    await writeNsynthTfRecord(tfr, [...fixtureNotes].reverse());
  });

  test('CRC-32C: the standard test vector, continuation, and the TFRecord mask', () => {
    const digits = new TextEncoder().encode('123456789');
    assert.equal(crc32c(digits), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    assert.equal(crc32c(digits.subarray(4), crc32c(digits.subarray(0, 4))), 0xe3069283);
    // 32 zero bytes: value from RFC 3720 (iSCSI) appendix B.4.
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    const c = 0xe3069283;
    assert.equal(maskCrc(c), ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) % 2 ** 32);
  });

  test('round trip of the fixture: same notes, same order, same metadata, audio within 1/32768', async () => {
    const reader = await openNsynth(tfr);
    assert.equal(reader.form, 'tfrecord');
    assert.equal(reader.count, 51);
    const { notes, skips } = await collectNsynth(reader);
    assert.deepEqual(skips, []);
    assert.deepEqual(notes.map((n) => n.meta.note_str), fixtureNotes.map((n) => n.meta.note_str));
    for (let i = 0; i < notes.length; i++) {
      assert.deepEqual(notes[i].meta, fixtureNotes[i].meta);
      let maxErr = 0;
      for (let k = 0; k < 64000; k++) maxErr = Math.max(maxErr, Math.abs(notes[i].audio[k] - fixtureNotes[i].audio[k]));
      assert.ok(maxErr <= 1 / 32768, `${notes[i].meta.note_str}: max error ${maxErr}`);
    }
    const brassJ = (await collectNsynth(await openNsynth(FIXTURE, { families: ['brass'], pitchMax: 60, limit: 3 }))).notes;
    const brassT = (await collectNsynth(await openNsynth(tfr, { families: ['brass'], pitchMax: 60, limit: 3 }))).notes;
    assert.deepEqual(brassT.map((n) => n.meta), brassJ.map((n) => n.meta));
  });

  test('the Example decoder reads unpacked int64 and float lists and empty features too', () => {
    // Hand-built bytes: Features{ feature { key "i" value { int64_list { value: 5 value: 300 } } } }
    // with unpacked (one tag per value) encodings, which TensorFlow's parser also accepts.
    const key = (s: string): number[] => [0x0a, s.length, ...Buffer.from(s)];
    const entry = (k: string, feature: number[]): number[] => {
      const body = [...key(k), 0x12, feature.length, ...feature];
      return [0x0a, body.length, ...body];
    };
    const f32 = [...Buffer.from(new Float32Array([0.5]).buffer)];
    const ints = [0x1a, 5, 0x08, 5, 0x08, 0xac, 0x02]; // int64_list { 5, 300 } unpacked
    const floats = [0x12, 10, 0x0d, ...f32, 0x0d, ...f32]; // float_list { 0.5, 0.5 } unpacked
    const features = [...entry('i', ints), ...entry('f', floats), ...entry('e', [])];
    const bytes = new Uint8Array([0x0a, features.length, ...features]);
    const decoded = decodeExample(bytes);
    assert.deepEqual(decoded.get('i'), { kind: 'int64', values: [5, 300] });
    const f = decoded.get('f');
    assert.ok(f?.kind === 'float');
    assert.deepEqual([...f.floatValues()], [0.5, 0.5]);
    assert.deepEqual(decoded.get('e'), { kind: 'none' });
    // The encoder's packed form decodes to the same values, negative int64 included.
    const again = decodeExample(encodeExample({ i: { kind: 'int64', values: [5, 300, -2, 2 ** 40] }, s: { kind: 'bytes', values: ['é', ''] } }));
    assert.deepEqual(again.get('i'), { kind: 'int64', values: [5, 300, -2, 2 ** 40] });
    const s = again.get('s');
    assert.ok(s?.kind === 'bytes');
    assert.deepEqual(s.values.map((v) => Buffer.from(v).toString('utf8')), ['é', '']);
  });

  test('a flipped byte in a record is a one-line bad-CRC error naming the file and the record index', async () => {
    const bytes = readFileSync(tfr);
    const offsets: number[] = [];
    for await (const r of readTfRecords(tfr)) offsets.push(r.offset);
    assert.equal(offsets.length, 51);
    const flipped = path.join(tmpRoot, 'flipped.tfrecord');
    const data = Buffer.from(bytes);
    data[offsets[3] + 12 + 1000] ^= 0x01; // inside record 3's data
    writeFileSync(flipped, data);
    const err = await openNsynth(flipped).then(() => null, (e: unknown) => e as Error);
    assert.ok(err instanceof NsynthError);
    assert.match(err.message, /flipped\.tfrecord: record 3 \(byte \d+\): bad CRC-32C of the data/);
    assertOneLine(err.message);
    const badLength = Buffer.from(bytes);
    badLength[offsets[7]] ^= 0x40; // record 7's length
    writeFileSync(flipped, badLength);
    await assert.rejects(openNsynth(flipped), /record 7 \(byte \d+\): bad CRC-32C of the length/);
    writeFileSync(flipped, bytes.subarray(0, bytes.length - 10));
    await assert.rejects(openNsynth(flipped), /record 50 \(byte \d+\): truncated/);
    await assert.rejects(openNsynth(path.join(FIXTURE, 'examples.json')), /examples\.json: record 0 \(byte 0\): bad CRC-32C of the length \(not a TFRecord file\?\)/);
  });

  test('per-record problems are skips: wrong audio length, invalid metadata', async () => {
    const a = fixtureNotes[0];
    const shortAudio = { meta: fixtureNotes[1].meta, audio: new Float32Array(100) };
    const badMeta = { meta: { ...fixtureNotes[2].meta, pitch: 999 }, audio: fixtureNotes[2].audio };
    const file = path.join(tmpRoot, 'skips.tfrecord');
    await writeNsynthTfRecord(file, [a, shortAudio, badMeta]);
    writeFileSync(file, Buffer.concat([readFileSync(file), frameTfRecord(new Uint8Array([0xff, 0xff]))]));
    const { notes, skips } = await collectNsynth(await openNsynth(file));
    assert.deepEqual(notes.map((n) => n.meta.note_str), [a.meta.note_str]);
    const reasons = new Map(skips.map((s: NoteSkip) => [s.id, s.reason]));
    assert.match(reasons.get(shortAudio.meta.note_str) ?? '', /^record 1: audio has 100 samples, expected 64000$/);
    assert.match(reasons.get(badMeta.meta.note_str) ?? '', /^record 2: 'pitch' must be an integer 0–127, got 999$/);
    assert.match(reasons.get('record 3') ?? '', /^record 3: not a tf\.train\.Example/);
  });
});

describe('fetch-nsynth', () => {
  const FETCH_IDS = ['flute_acoustic_073-072-100', 'organ_acoustic_019-055-100', 'vocal_acoustic_052-057-100'];
  let archive: Buffer;
  let tfrecordBytes: Buffer;
  type Mode = 'ok' | 'cut-once' | 'size-changes' | 'length-lies' | '404';
  let mode: Mode = 'ok';
  let requests: { path: string; range: string | undefined }[] = [];
  let server: http.Server;
  let base = '';

  before(async () => {
    const src = makeDataset(path.join('archive-src', 'nsynth-test'), FETCH_IDS);
    const file = path.join(tmpRoot, 'nsynth-test.jsonwav.tar.gz');
    await tar.c({ gzip: true, file, cwd: path.dirname(src), portable: true }, ['nsynth-test']);
    archive = readFileSync(file);
    const tfr = path.join(tmpRoot, 'fetch.tfrecord');
    await writeNsynthTfRecord(tfr, (await collectNsynth(await openNsynth(src))).notes);
    tfrecordBytes = readFileSync(tfr);
    let served = 0;
    server = http.createServer((req, res) => {
      requests.push({ path: req.url ?? '', range: req.headers.range });
      served++;
      const body = req.url?.endsWith('.tfrecord') ? tfrecordBytes : archive;
      if (mode === '404' || !(req.url?.endsWith('.tar.gz') || req.url?.endsWith('.tfrecord'))) {
        res.writeHead(404, 'Not Found').end('no such file');
        return;
      }
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      const total = body.length;
      const cut = (): void => {
        // Send a third of the rest, then drop the connection mid-body.
        res.write(body.subarray(start, start + Math.floor((total - start) / 3)), () => res.socket?.end());
      };
      if (mode === 'length-lies') {
        res.writeHead(200, { 'content-length': String(total + 1000) });
        res.write(body, () => res.socket?.end());
        return;
      }
      if (m && start > 0) {
        const reported = mode === 'size-changes' ? total + 123 : total;
        res.writeHead(206, { 'content-length': String(total - start), 'content-range': `bytes ${start}-${total - 1}/${reported}` });
        res.end(body.subarray(start));
        return;
      }
      res.writeHead(200, { 'content-length': String(total) });
      if ((mode === 'cut-once' || mode === 'size-changes') && served === 1) cut();
      else res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const reset = (m: Mode): void => {
      mode = m;
      served = 0;
      requests = [];
    };
    resetServer = reset;
  });
  let resetServer: (m: Mode) => void = () => undefined;
  after(() => {
    server?.closeAllConnections();
    server?.close();
  });

  const hooks = { retryDelayMs: 5, idleTimeoutMs: 5000 };
  const url = (): string => `${base}/datasets/nsynth/nsynth-test.jsonwav.tar.gz`;
  // The command's one-line summary goes to stdout and shows in the test log; the reporter's own
  // output shares that stream, so it is not silenced.
  const quietly = <T>(f: () => Promise<T>): Promise<T> => f();

  test('full download: extracted, validated, archive removed; a second run finds it in place', async () => {
    resetServer('ok');
    const out = path.join(tmpRoot, 'fetch-full');
    assert.equal(await quietly(() => fetchNsynthMain(['--url', url(), '--out', out, '--quiet'], hooks)), 0);
    const ds = path.join(out, 'nsynth-test');
    const { notes, skips } = await collectNsynth(await openNsynth(ds));
    assert.deepEqual(notes.map((n) => n.meta.note_str), FETCH_IDS);
    assert.deepEqual(skips, []);
    assert.deepEqual(readdirSync(out), ['nsynth-test']); // no archive, no .part, no staging left
    assert.equal(requests.length, 1);
    assert.equal(await quietly(() => fetchNsynthMain(['--url', url(), '--out', out, '--quiet'], hooks)), 0);
    assert.equal(requests.length, 1, 'nothing downloaded the second time');
  });

  test('a connection dropped mid-body is resumed with a Range request', async () => {
    resetServer('cut-once');
    const out = path.join(tmpRoot, 'fetch-resume');
    assert.equal(await quietly(() => fetchNsynthMain(['--url', url(), '--out', out, '--quiet'], hooks)), 0);
    assert.equal(requests.length, 2);
    assert.equal(requests[0].range, undefined);
    assert.match(requests[1].range ?? '', /^bytes=[1-9]\d*-$/);
    assert.equal((await collectNsynth(await openNsynth(path.join(out, 'nsynth-test')))).notes.length, 3);
  });

  test('a partial download left by an earlier run is resumed, not restarted', async () => {
    resetServer('ok');
    const dest = path.join(tmpRoot, 'fetch-part', 'file.tar.gz');
    mkdirSync(path.dirname(dest), { recursive: true });
    const half = Math.floor(archive.length / 2);
    writeFileSync(`${dest}.part`, archive.subarray(0, half));
    writeFileSync(`${dest}.part.json`, JSON.stringify({ url: url(), totalBytes: archive.length, etag: null, lastModified: null }));
    const r = await downloadFile({ url: url(), dest, retryDelayMs: 5 });
    assert.deepEqual(requests.map((q) => q.range), [`bytes=${half}-`]);
    assert.equal(r.resumedFromBytes, half);
    assert.deepEqual(readFileSync(dest), archive);
    assert.ok(!existsSync(`${dest}.part`) && !existsSync(`${dest}.part.json`));
  });

  test('size mismatch: a server whose size changes between requests is a one-line error', async () => {
    resetServer('size-changes');
    const out = path.join(tmpRoot, 'fetch-mismatch');
    const err = await quietly(() => fetchNsynthMain(['--url', url(), '--out', out, '--quiet'], hooks)).then(() => null, (e: unknown) => e as Error);
    assert.ok(err instanceof UserError);
    assert.match(err.message, new RegExp(`size mismatch: the server now reports ${archive.length + 123} bytes, the download began at ${archive.length}`));
    assertOneLine(err.message);
    assert.ok(!existsSync(path.join(out, 'nsynth-test')));
  });

  test('size mismatch: a body shorter than Content-Length every time ends after the bounded retries', async () => {
    resetServer('length-lies');
    const out = path.join(tmpRoot, 'fetch-short');
    const err = await quietly(() => fetchNsynthMain(['--url', url(), '--out', out, '--quiet', '--retries', '3'], hooks)).then(() => null, (e: unknown) => e as Error);
    assert.ok(err instanceof UserError);
    assert.match(err.message, new RegExp(`download incomplete after 3 attempts: \\d+ bytes of ${archive.length + 1000} \\(Content-Length\\)`));
    assert.equal(requests.length, 3);
  });

  test('HTTP 404 is a one-line error naming the URL, with no retry', async () => {
    resetServer('404');
    const out = path.join(tmpRoot, 'fetch-404');
    const err = await quietly(() => fetchNsynthMain(['--url', url(), '--out', out, '--quiet'], hooks)).then(() => null, (e: unknown) => e as Error);
    assert.ok(err instanceof UserError);
    assert.equal(err.message, `${url()}: HTTP 404 Not Found`);
    assert.equal(requests.length, 1);
  });

  test('--form tfrecord downloads the single file and checks every record', async () => {
    resetServer('ok');
    const out = path.join(tmpRoot, 'fetch-tfr');
    const tfrUrl = `${base}/datasets/nsynth/nsynth-test.tfrecord`;
    assert.equal(await quietly(() => fetchNsynthMain(['--url', tfrUrl, '--out', out, '--form', 'tfrecord', '--quiet'], hooks)), 0);
    const { notes } = await collectNsynth(await openNsynth(path.join(out, 'nsynth-test.tfrecord')));
    assert.deepEqual(notes.map((n) => n.meta.note_str), FETCH_IDS);
  });

  test('--help exits 0; a bad option is a UserError', async () => {
    assert.equal(await quietly(() => fetchNsynthMain(['--help'])), 0);
    await assert.rejects(quietly(() => fetchNsynthMain(['--split', 'nope'])), UserError);
  });
});
