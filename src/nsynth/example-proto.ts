/**
 * A minimal protobuf codec for `tf.train.Example`, the message inside each NSynth TFRecord:
 *
 *   Example  { Features features = 1; }
 *   Features { map<string, Feature> feature = 1; }        // entries: { key = 1; value = 2; }
 *   Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
 *   BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1; }  Int64List { repeated int64 value = 1; }
 *
 * Written by hand rather than through a protobuf library: three messages do not justify a code
 * generator, and a hand decoder can leave a feature's bytes undecoded until asked (the readers skip
 * 256 KB of audio per note while indexing).
 */

/** One decoded feature. Float values are left as bytes until `floatValues` is called. */
export type Feature =
  | { readonly kind: 'bytes'; readonly values: readonly Uint8Array[] }
  | { readonly kind: 'int64'; readonly values: readonly number[] }
  | { readonly kind: 'float'; readonly count: number; readonly floatValues: () => Float32Array }
  /** A Feature message with no list set (protobuf cannot tell which empty list was meant). */
  | { readonly kind: 'none' };

/** A feature to encode. */
export type FeatureValue =
  | { readonly kind: 'bytes'; readonly values: readonly (Uint8Array | string)[] }
  | { readonly kind: 'int64'; readonly values: readonly number[] }
  | { readonly kind: 'float'; readonly values: Float32Array | readonly number[] };

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Cursor over a protobuf message; throws one-sentence Errors on malformed input. */
class Cursor {
  pos: number;
  constructor(readonly buf: Uint8Array, start: number, readonly end: number) {
    this.pos = start;
  }
  done(): boolean {
    return this.pos >= this.end;
  }
  /** A varint as a JS number; int64 values outside ±2^53 are refused rather than rounded. */
  varint(): number {
    let lo = 0;
    let shift = 0;
    let i = 0;
    // Up to 10 bytes (64 bits). Accumulate as BigInt only past 28 bits, the rare case.
    let big: bigint | null = null;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      if (i >= 10) throw new Error('varint longer than 10 bytes');
      const b = this.buf[this.pos++];
      if (big === null && shift < 28) {
        lo |= (b & 0x7f) << shift;
      } else {
        big ??= BigInt(lo >>> 0);
        big |= BigInt(b & 0x7f) << BigInt(shift);
      }
      shift += 7;
      i++;
      if ((b & 0x80) === 0) break;
    }
    if (big === null) return lo >>> 0;
    const signed = BigInt.asIntN(64, big);
    if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new Error(`integer ${signed} is beyond ±2^53`);
    }
    return Number(signed);
  }
  /** Length-delimited field: returns [start, end) within buf. */
  len(): [number, number] {
    const n = this.varint();
    if (n < 0 || this.pos + n > this.end) throw new Error('length-delimited field runs past its message');
    const start = this.pos;
    this.pos += n;
    return [start, this.pos];
  }
  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_I64) this.advance(8);
    else if (wire === WIRE_LEN) this.len();
    else if (wire === WIRE_I32) this.advance(4);
    else throw new Error(`unsupported wire type ${wire}`);
  }
  advance(n: number): void {
    if (this.pos + n > this.end) throw new Error('field runs past its message');
    this.pos += n;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Decodes UTF-8 strictly (a malformed name is an error, not a replacement character). */
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/**
 * Decodes a serialized `tf.train.Example` into its features. Throws an Error (one sentence) when the
 * bytes are not a well-formed Example.
 */
export function decodeExample(bytes: Uint8Array): Map<string, Feature> {
  const out = new Map<string, Feature>();
  const ex = new Cursor(bytes, 0, bytes.length);
  while (!ex.done()) {
    const tag = ex.varint();
    if (tag >>> 3 === 1 && (tag & 7) === WIRE_LEN) {
      const [fs, fe] = ex.len();
      const features = new Cursor(bytes, fs, fe);
      while (!features.done()) {
        const ftag = features.varint();
        if (ftag >>> 3 === 1 && (ftag & 7) === WIRE_LEN) {
          const [es, ee] = features.len();
          const [key, feature] = decodeMapEntry(bytes, es, ee);
          out.set(key, feature); // protobuf maps: the last entry for a key wins
        } else features.skip(ftag & 7);
      }
    } else ex.skip(tag & 7);
  }
  return out;
}

function decodeMapEntry(bytes: Uint8Array, start: number, end: number): [string, Feature] {
  const c = new Cursor(bytes, start, end);
  let key = '';
  let feature: Feature = { kind: 'none' };
  while (!c.done()) {
    const tag = c.varint();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === WIRE_LEN) {
      const [s, e] = c.len();
      key = decodeUtf8(bytes.subarray(s, e));
    } else if (field === 2 && (tag & 7) === WIRE_LEN) {
      const [s, e] = c.len();
      feature = decodeFeature(bytes, s, e);
    } else c.skip(tag & 7);
  }
  return [key, feature];
}

function decodeFeature(bytes: Uint8Array, start: number, end: number): Feature {
  const c = new Cursor(bytes, start, end);
  let feature: Feature = { kind: 'none' };
  while (!c.done()) {
    const tag = c.varint();
    const field = tag >>> 3;
    if ((tag & 7) !== WIRE_LEN || field < 1 || field > 3) {
      c.skip(tag & 7);
      continue;
    }
    const [s, e] = c.len();
    // oneof: the last list present wins, as in protobuf.
    feature = field === 1 ? decodeBytesList(bytes, s, e) : field === 2 ? decodeFloatList(bytes, s, e) : decodeInt64List(bytes, s, e);
  }
  return feature;
}

function decodeBytesList(bytes: Uint8Array, start: number, end: number): Feature {
  const c = new Cursor(bytes, start, end);
  const values: Uint8Array[] = [];
  while (!c.done()) {
    const tag = c.varint();
    if (tag >>> 3 === 1 && (tag & 7) === WIRE_LEN) {
      const [s, e] = c.len();
      values.push(bytes.subarray(s, e));
    } else c.skip(tag & 7);
  }
  return { kind: 'bytes', values };
}

function decodeInt64List(bytes: Uint8Array, start: number, end: number): Feature {
  const c = new Cursor(bytes, start, end);
  const values: number[] = [];
  while (!c.done()) {
    const tag = c.varint();
    if (tag >>> 3 === 1 && (tag & 7) === WIRE_LEN) {
      // packed (the proto3 default, what TensorFlow writes)
      const [s, e] = c.len();
      const p = new Cursor(bytes, s, e);
      while (!p.done()) values.push(p.varint());
    } else if (tag >>> 3 === 1 && (tag & 7) === WIRE_VARINT) {
      values.push(c.varint()); // unpacked: parsers must accept both
    } else c.skip(tag & 7);
  }
  return { kind: 'int64', values };
}

function decodeFloatList(bytes: Uint8Array, start: number, end: number): Feature {
  // Collect the byte ranges of the floats (packed runs and single unpacked values) without
  // converting them; conversion happens only if someone asks.
  const c = new Cursor(bytes, start, end);
  const runs: [number, number][] = [];
  let count = 0;
  while (!c.done()) {
    const tag = c.varint();
    if (tag >>> 3 === 1 && (tag & 7) === WIRE_LEN) {
      const [s, e] = c.len();
      if ((e - s) % 4 !== 0) throw new Error(`packed float list of ${e - s} bytes is not a whole number of floats`);
      runs.push([s, e]);
      count += (e - s) / 4;
    } else if (tag >>> 3 === 1 && (tag & 7) === WIRE_I32) {
      const s = c.pos;
      c.advance(4);
      runs.push([s, s + 4]);
      count++;
    } else c.skip(tag & 7);
  }
  const floatValues = (): Float32Array => {
    const out = new Float32Array(count);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let k = 0;
    for (const [s, e] of runs) for (let p = s; p < e; p += 4) out[k++] = view.getFloat32(p, true);
    return out;
  };
  return { kind: 'float', count, floatValues };
}

/** Growable byte buffer for encoding. */
class Writer {
  buf = new Uint8Array(1024);
  pos = 0;
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  varint(v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`cannot encode ${v} as an int64`);
    this.ensure(10);
    if (v < 0) {
      // Negative int64: two's complement over 64 bits, always 10 bytes.
      let b = BigInt.asUintN(64, BigInt(v));
      for (let i = 0; i < 10; i++) {
        const byte = Number(b & 0x7fn);
        b >>= 7n;
        this.buf[this.pos++] = b > 0n ? byte | 0x80 : byte;
      }
      return;
    }
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** Writes tag + length + the message `inner` builds. */
  message(field: number, inner: (w: Writer) => void): void {
    const w = new Writer();
    inner(w);
    this.varint((field << 3) | WIRE_LEN);
    this.varint(w.pos);
    this.bytes(w.buf.subarray(0, w.pos));
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/**
 * Encodes features as a serialized `tf.train.Example`, in the way TensorFlow writes them (int64 and
 * float lists packed; an empty list still marks its kind). Keys are written in sorted order so equal
 * features give equal bytes.
 */
export function encodeExample(features: ReadonlyMap<string, FeatureValue> | Readonly<Record<string, FeatureValue>>): Uint8Array {
  const entries = (features instanceof Map ? [...features.entries()] : Object.entries(features)) as [string, FeatureValue][];
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const w = new Writer();
  w.message(1, (fw) => {
    for (const [key, value] of entries) {
      fw.message(1, (ew) => {
        const k = utf8Encoder.encode(key);
        ew.varint((1 << 3) | WIRE_LEN);
        ew.varint(k.length);
        ew.bytes(k);
        ew.message(2, (featW) => encodeFeature(featW, value));
      });
    }
  });
  return w.result();
}

function encodeFeature(w: Writer, value: FeatureValue): void {
  if (value.kind === 'bytes') {
    w.message(1, (lw) => {
      for (const v of value.values) {
        const b = typeof v === 'string' ? utf8Encoder.encode(v) : v;
        lw.varint((1 << 3) | WIRE_LEN);
        lw.varint(b.length);
        lw.bytes(b);
      }
    });
  } else if (value.kind === 'float') {
    w.message(2, (lw) => {
      if (value.values.length === 0) return;
      const packed = new Uint8Array(value.values.length * 4);
      const view = new DataView(packed.buffer);
      for (let i = 0; i < value.values.length; i++) view.setFloat32(i * 4, value.values[i], true);
      lw.varint((1 << 3) | WIRE_LEN);
      lw.varint(packed.length);
      lw.bytes(packed);
    });
  } else {
    w.message(3, (lw) => {
      if (value.values.length === 0) return;
      const inner = new Writer();
      for (const v of value.values) inner.varint(v);
      lw.varint((1 << 3) | WIRE_LEN);
      lw.varint(inner.pos);
      lw.bytes(inner.buf.subarray(0, inner.pos));
    });
  }
}
