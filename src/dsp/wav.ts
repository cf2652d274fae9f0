/**
 * WAV encoding and decoding over bytes (no file system). Encoding is written here so that the
 * generator's output bytes are fixed by this file alone (same samples → same bytes, whatever
 * library version); decoding goes through `wavefile`, which knows the many WAV dialects found in
 * the wild (PCM 8/16/24/32, float, WAVE_FORMAT_EXTENSIBLE) better than a hand parser would.
 */
import * as wavefileModule from 'wavefile';

// wavefile is CommonJS: under ESM its exports sit on `default`, under CJS interop on the namespace.
type WaveFileCtor = typeof import('wavefile').WaveFile;
const wavefileNs = wavefileModule as unknown as { WaveFile?: WaveFileCtor; default?: { WaveFile: WaveFileCtor } };
const WaveFile: WaveFileCtor = (wavefileNs.WaveFile ?? wavefileNs.default?.WaveFile) as WaveFileCtor;

/** Size of the canonical RIFF/WAVE header for PCM, bytes. */
export const WAV_HEADER_BYTES = 44;

/**
 * Encodes mono float samples as a 16-bit PCM WAV file.
 *
 * @param samples float samples, nominally in [-1, 1]; values outside are clipped, NaN is refused.
 * @param sampleRate Hz, positive integer.
 * @param gain linear gain applied before quantisation (default 1).
 * @returns the whole file, 44 + 2·length bytes.
 */
export function encodeWavPcm16(samples: Float32Array | Float64Array, sampleRate: number, gain = 1): Uint8Array {
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new Error(`sample rate must be a positive integer, got ${sampleRate}`);
  const n = samples.length;
  const dataBytes = n * 2;
  const bytes = new Uint8Array(WAV_HEADER_BYTES + dataBytes);
  const view = new DataView(bytes.buffer);
  const ascii = (offset: number, text: string): void => {
    for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true); // fmt chunk size for plain PCM
  view.setUint16(20, 1, true); // WAVE_FORMAT_PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // byte rate
  view.setUint16(32, 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, 'data');
  view.setUint32(40, dataBytes, true);
  const pcm = new Int16Array(bytes.buffer, WAV_HEADER_BYTES, n);
  const k = 32767 * gain;
  for (let i = 0; i < n; i++) {
    const s = samples[i] * k;
    // Round half away from zero, clip to ±32767 (symmetric, so -1 and 1 map to ±32767). NaN fails
    // both comparisons and is caught below, outside the hot path.
    const r = s >= 0 ? Math.floor(s + 0.5) : -Math.floor(0.5 - s);
    pcm[i] = r > 32767 ? 32767 : r < -32767 ? -32767 : r;
    if (s !== s) throw new Error(`sample ${i} is NaN`);
  }
  return bytes;
}

/** A decoded WAV file. */
export interface DecodedWav {
  /** Hz. */
  readonly sampleRate: number;
  /** Number of channels in the file. */
  readonly channels: number;
  /** Bits per sample as stored ('16', '24', '32f', …: wavefile's bit-depth code). */
  readonly bitDepth: string;
  /** Channel 0 as floats in [-1, 1], shape [frames]. */
  readonly samples: Float32Array;
}

/** Options for `decodeWav`'s checks. */
export interface DecodeWavExpect {
  /** Required sample rate, Hz. */
  readonly sampleRate?: number;
  /** Require exactly one channel. */
  readonly mono?: boolean;
  /** Required number of frames. */
  readonly frames?: number;
}

/**
 * Decodes a WAV file to float samples and checks it against `expect`. Throws an Error whose
 * message is one short sentence (no file name: the caller adds it).
 *
 * @param bytes the whole file.
 */
export function decodeWav(bytes: Uint8Array, expect: DecodeWavExpect = {}): DecodedWav {
  if (bytes.length < 12) throw new Error(`not a WAV file (only ${bytes.length} bytes)`);
  const tag = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  const wave = String.fromCharCode(bytes[8], bytes[9], bytes[10], bytes[11]);
  if ((tag !== 'RIFF' && tag !== 'RIFX' && tag !== 'RF64') || wave !== 'WAVE') throw new Error('not a WAV file (no RIFF/WAVE header)');
  // wavefile reads a cut-off data chunk as a shorter sound without a word: refuse it instead, so a
  // damaged file is named as such rather than used in part.
  if (tag !== 'RF64') checkDataComplete(bytes, tag === 'RIFX');
  const fast = tag === 'RIFF' ? decodePlainPcm16(bytes) : null;
  if (fast) return checkDecoded(fast, expect);
  let wav: InstanceType<typeof WaveFile>;
  try {
    wav = new WaveFile(bytes);
  } catch (e) {
    throw new Error(`corrupt WAV file (${(e as Error).message})`);
  }
  const fmt = wav.fmt as { numChannels: number; sampleRate: number; audioFormat: number };
  const bitDepth = wav.bitDepth;
  const channels = fmt.numChannels;
  const sampleRate = fmt.sampleRate;
  if (!(channels >= 1)) throw new Error('corrupt WAV file (no channels)');
  // Channel count and rate are known before decoding: refuse a wrong file without converting it.
  checkDecoded({ sampleRate, channels, bitDepth, samples: new Float32Array(0) }, { mono: expect.mono, sampleRate: expect.sampleRate });
  let raw: Float64Array | Float64Array[];
  try {
    raw = wav.getSamples(false, Float64Array) as unknown as Float64Array | Float64Array[];
  } catch (e) {
    throw new Error(`corrupt WAV file (${(e as Error).message})`);
  }
  const ch0 = Array.isArray(raw) ? raw[0] : raw;
  const scale = pcmScale(bitDepth);
  const samples = new Float32Array(ch0.length);
  for (let i = 0; i < ch0.length; i++) {
    const x = ch0[i] * scale;
    if (!Number.isFinite(x)) throw new Error(`sample ${i} is not a finite number`);
    samples[i] = x;
  }
  return checkDecoded({ sampleRate, channels, bitDepth, samples }, expect);
}

function checkDecoded(d: DecodedWav, expect: DecodeWavExpect): DecodedWav {
  if (expect.mono && d.channels !== 1) throw new Error(`has ${d.channels} channels, expected mono`);
  if (expect.sampleRate !== undefined && d.sampleRate !== expect.sampleRate) throw new Error(`is ${d.sampleRate} Hz, expected ${expect.sampleRate} Hz`);
  if (expect.frames !== undefined && d.samples.length !== expect.frames) {
    throw new Error(`has ${d.samples.length} samples, expected ${expect.frames}`);
  }
  return d;
}

/**
 * Throws when the data chunk announces more bytes than the file holds (a file cut off in copying
 * or writing). 0xFFFFFFFF is the placeholder of writers that stream without knowing the length;
 * such a chunk runs to the end of the file, as wavefile reads it.
 */
function checkDataComplete(bytes: Uint8Array, bigEndian: boolean): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 12;
  while (off + 8 <= bytes.length) {
    const id = String.fromCharCode(bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]);
    const size = view.getUint32(off + 4, !bigEndian);
    const body = off + 8;
    if (id === 'data') {
      if (size !== 0xffffffff && body + size > bytes.length) throw new Error(`truncated WAV file (data chunk announces ${size} bytes, ${bytes.length - body} present)`);
      return;
    }
    off = body + size + (size & 1);
  }
}

/**
 * Fast path for the one format this project reads by the thousand (NSynth's and ours): little-endian
 * PCM 16-bit, plain `fmt ` chunk. Walks the chunks itself and converts the samples in one loop
 * (wavefile's general path costs ~5 ms a note). Returns null for anything else (wavefile decides),
 * and for a malformed chunk list (wavefile then reports the corruption).
 */
function decodePlainPcm16(bytes: Uint8Array): DecodedWav | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number; align: number } | null = null;
  while (off + 8 <= bytes.length) {
    const id = String.fromCharCode(bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]);
    const size = view.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > bytes.length) return null;
      fmt = { format: view.getUint16(body, true), channels: view.getUint16(body + 2, true), rate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true), align: view.getUint16(body + 12, true) };
      if (fmt.format !== 1 || fmt.bits !== 16 || fmt.channels < 1 || fmt.align !== 2 * fmt.channels) return null;
    } else if (id === 'data') {
      if (!fmt || body + size > bytes.length) return null;
      const frames = Math.floor(size / fmt.align);
      const samples = new Float32Array(frames);
      const step = fmt.channels * 2;
      for (let i = 0, p = body; i < frames; i++, p += step) samples[i] = view.getInt16(p, true) / 32768;
      return { sampleRate: fmt.rate, channels: fmt.channels, bitDepth: '16', samples };
    }
    off = body + size + (size & 1);
  }
  return null;
}

/** Factor mapping wavefile's raw integer samples to [-1, 1). */
function pcmScale(bitDepth: string): number {
  switch (bitDepth) {
    case '8':
      // wavefile returns 8-bit PCM unsigned (0…255); handled by callers rarely: treat as unsupported.
      throw new Error('8-bit WAV is not supported');
    case '16':
      return 1 / 32768;
    case '24':
      return 1 / 8388608;
    case '32':
      return 1 / 2147483648;
    case '32f':
    case '64':
      return 1;
    default:
      throw new Error(`unsupported WAV bit depth ${bitDepth}`);
  }
}
