/**
 * A minimal PNG encoder (8-bit greyscale, RGB or RGBA, no interlace) over node:zlib, for the
 * report's spectrogram images. Rows use filter type 0 (none): the images are small (126 × 128),
 * and a fixed filter keeps the bytes a function of the pixels alone.
 */
import { crc32, deflateSync } from 'node:zlib';

/** Channels per pixel and the matching PNG colour type. */
const COLOR_TYPE: Readonly<Record<1 | 3 | 4, number>> = { 1: 0, 3: 2, 4: 6 };

/** An 8-bit image, row-major, top row first. */
export interface RasterImage {
  /** Pixels per row, ≥ 1. */
  readonly width: number;
  /** Rows, ≥ 1. */
  readonly height: number;
  /** 1 = grey, 3 = RGB, 4 = RGBA. */
  readonly channels: 1 | 3 | 4;
  /** Samples, shape [height, width, channels], length height·width·channels. */
  readonly data: Uint8Array;
}

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** One chunk: length, type, data, CRC-32 of type + data (big-endian throughout). */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)) >>> 0);
  return out;
}

/**
 * Encodes an image as a PNG file.
 *
 * @returns the whole file (signature, IHDR, one IDAT, IEND).
 * @throws when the dimensions are not positive integers or `data` has the wrong length.
 */
export function encodePng(image: RasterImage): Uint8Array {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new Error(`PNG dimensions must be positive integers, got ${width} × ${height}`);
  }
  if (!(channels in COLOR_TYPE)) throw new Error(`PNG channels must be 1, 3 or 4, got ${channels}`);
  const stride = width * channels;
  if (data.length !== stride * height) throw new Error(`pixel data has length ${data.length}, expected ${stride * height}`);

  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOR_TYPE[channels];
  // [10] compression 0 (deflate), [11] filter method 0, [12] interlace 0: already zero.

  // Each scanline is prefixed by its filter type byte (0 = none).
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const idat = deflateSync(raw, { level: 9 });

  const parts = [SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** A PNG as a `data:` URI, for embedding in a self-contained page. */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`;
}
