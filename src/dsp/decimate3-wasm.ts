/**
 * WebAssembly SIMD (f32x4) kernel for the centred decimate-by-3 FIR of resample.ts, generated from
 * the taps at load time.
 *
 * Layout of the computation. The input is split into its three polyphase components
 * p_r[i] = x[3i + r], so that four consecutive outputs y[m..m+3] read four *consecutive* samples
 * of one component per tap: y[m] = Σ_d h[M − d] · x[3m + d] with d = 3q + r reads p_r[m + q].
 * Taps at ±d are folded (the filter is symmetric): +d and −d fall in components r and (−r mod 3),
 * so one multiply serves two loads. Each pass over the taps computes `blockVectors` × 4 outputs,
 * so a coefficient (splatted once) feeds several independent accumulators, which hides the add
 * latency. Every load offset is a compile-time immediate, which is why the code is generated per
 * filter rather than looping over a tap table.
 *
 * Arithmetic is float32 (inputs, taps, accumulators): the error against the float64 reference is
 * ~1e-7 of full scale, far below the 16-bit output quantum and the −80 dB stopband.
 */
import { I32, V128, assembleModule, op, simd, simdOp, sleb, uleb, type FuncBody, type WasmMemory, wasmApi } from './wasm-emit.ts';

/** A ready decimator bound to one WebAssembly instance (not reentrant; JS is single-threaded). */
export interface Decimator {
  /**
   * Writes the decimated signal into `out` (length ⌈n/3⌉, checked by the caller).
   * @param input samples at 48 kHz; not modified.
   */
  run(input: Float32Array | Float64Array, out: Float32Array): void;
  /** Outputs computed per pass over the taps. */
  readonly outputsPerBlock: number;
}

const api = wasmApi();

const PAGE = 65536;
const STAGE = 1024; // taps live below this (≤ 256 folded taps)

/**
 * Builds the kernel for an odd, symmetric filter centred on its middle tap.
 *
 * @param taps impulse response, odd length ≤ 511, symmetric.
 * @param blockVectors f32x4 accumulators per pass (4 → 16 outputs); 1–8.
 * @returns the decimator, or null if this runtime lacks WebAssembly SIMD.
 */
export function createWasmDecimator(taps: readonly number[], blockVectors = 4): Decimator | null {
  const n = taps.length;
  if (n % 2 !== 1 || n > 511) throw new Error('createWasmDecimator: taps must have odd length ≤ 511');
  for (let k = 0; k < n; k++) {
    if (taps[k] !== taps[n - 1 - k]) throw new Error('createWasmDecimator: taps must be symmetric');
  }
  if (!(Number.isInteger(blockVectors) && blockVectors >= 1 && blockVectors <= 8)) {
    throw new Error('createWasmDecimator: blockVectors must be 1–8');
  }
  if (api === undefined) return null;
  const M = (n - 1) / 2;
  const pad = Math.ceil(M / 3); // leading zeros per component: q ≥ −pad
  const qMax = Math.floor(M / 3);

  // Folded terms: coefficient h[M − d] at offsets +d and −d (d = 0 alone).
  interface Term { coef: number; ra: number; qa: number; rb: number; qb: number }
  const terms: Term[] = [];
  const split = (d: number): [number, number] => [((d % 3) + 3) % 3, Math.floor(d / 3)];
  for (let d = 0; d <= M; d++) {
    const [ra, qa] = split(d);
    const [rb, qb] = split(-d);
    terms.push({ coef: taps[M - d], ra, qa, rb: d === 0 ? -1 : rb, qb });
  }

  const B = blockVectors;
  // Locals: params 0 o0, 1 stride, 2 out, 3 end; 4 o1, 5 o2 (i32); 6 c; 7.. acc (v128).
  const oLocal = [0, 4, 5];
  const C = 6;
  const acc = (b: number): number => 7 + b;
  const code: number[] = [];
  const get = (i: number): void => void code.push(op.localGet, ...uleb(i));
  const set = (i: number): void => void code.push(op.localSet, ...uleb(i));
  const addConst = (i: number, k: number): void => {
    get(i);
    code.push(op.i32Const, ...sleb(k), op.i32Add);
    set(i);
  };
  get(0); get(1); code.push(op.i32Add); set(4);
  get(4); get(1); code.push(op.i32Add); set(5);
  code.push(op.loop, op.blockVoid);
  terms.forEach((t, j) => {
    code.push(op.i32Const, 0, ...simdOp(simd.v128Load32Splat, [2, 4 * j]));
    set(C);
    for (let b = 0; b < B; b++) {
      get(oLocal[t.ra]);
      code.push(...simdOp(simd.v128Load, [2, 4 * (pad + t.qa) + 16 * b]));
      if (t.rb >= 0) {
        get(oLocal[t.rb]);
        code.push(...simdOp(simd.v128Load, [2, 4 * (pad + t.qb) + 16 * b]), ...simdOp(simd.f32x4Add));
      }
      get(C);
      code.push(...simdOp(simd.f32x4Mul));
      if (j > 0) {
        get(acc(b));
        code.push(...simdOp(simd.f32x4Add));
      }
      set(acc(b));
    }
  });
  for (let b = 0; b < B; b++) {
    get(2);
    get(acc(b));
    code.push(...simdOp(simd.v128Store, [4, 16 * b]));
  }
  for (const i of [0, 4, 5, 2]) addConst(i, 16 * B);
  get(2); get(3); code.push(op.i32LtU, op.br_if, 0, op.end);
  const kernel: FuncBody = { params: [I32, I32, I32, I32], locals: [[2, I32], [1 + B, V128]], code, exportName: 'kernel' };

  // Deinterleave (src, end, dst, stride): p_r[i] = x[3i + r] for whole triples; do-while, the
  // caller guarantees at least one triple.
  const di: number[] = [];
  const dget = (i: number): void => void di.push(op.localGet, ...uleb(i));
  const dset = (i: number): void => void di.push(op.localSet, ...uleb(i));
  dget(2); dget(3); di.push(op.i32Add); dset(4);
  dget(4); dget(3); di.push(op.i32Add); dset(5);
  di.push(op.loop, op.blockVoid);
  [2, 4, 5].forEach((dst, r) => {
    dget(dst); dget(0);
    di.push(op.f32Load, 2, ...uleb(4 * r), op.f32Store, 2, 0);
  });
  for (const [i, k] of [[0, 12], [2, 4], [4, 4], [5, 4]] as const) {
    dget(i); di.push(op.i32Const, ...sleb(k), op.i32Add); dset(i);
  }
  dget(0); dget(1); di.push(op.i32LtU, op.br_if, 0, op.end);
  const deinterleave: FuncBody = { params: [I32, I32, I32, I32], locals: [[2, I32]], code: di, exportName: 'deinterleave' };

  const bytes = assembleModule([kernel, deinterleave], 1);
  if (!api.validate(bytes)) return null; // no SIMD here (or, in development, a bad encoding)
  const instance = new api.Instance(new api.Module(bytes), {});
  const exp = instance.exports as {
    memory: WasmMemory;
    kernel: (o0: number, stride: number, out: number, end: number) => void;
    deinterleave: (src: number, end: number, dst: number, stride: number) => void;
  };
  const memory = exp.memory;
  new Float32Array(memory.buffer).set(Float32Array.from(terms, (t) => t.coef), 0);
  const perBlock = 4 * B;

  function run(input: Float32Array | Float64Array, out: Float32Array): void {
    const len = input.length;
    const outLen = Math.ceil(len / 3);
    if (len === 0) return;
    const outPadded = Math.ceil(outLen / perBlock) * perBlock;
    // Each component must cover indices 0 … outPadded − 1 + pad + qMax.
    const compLen = Math.ceil((outPadded + pad + qMax + 1) / 4) * 4;
    const stride = 4 * compLen;
    const ph0 = STAGE + Math.ceil(len / 4) * 16;
    const outPtr = ph0 + 3 * stride;
    const total = outPtr + 4 * outPadded;
    if (total > memory.buffer.byteLength) memory.grow(Math.ceil((total - memory.buffer.byteLength) / PAGE));
    const f32 = new Float32Array(memory.buffer);
    f32.set(input, STAGE / 4); // converts float64 input natively
    const triples = Math.floor(len / 3);
    for (let r = 0; r < 3; r++) {
      const base = (ph0 + r * stride) / 4;
      const count = Math.ceil((len - r) / 3);
      f32.fill(0, base, base + pad);
      f32.fill(0, base + pad + count, base + compLen);
    }
    if (triples > 0) exp.deinterleave(STAGE, STAGE + 12 * triples, ph0 + 4 * pad, stride);
    for (let t = 3 * triples; t < len; t++) f32[(ph0 + (t % 3) * stride) / 4 + pad + Math.floor(t / 3)] = input[t];
    exp.kernel(ph0, stride, outPtr, outPtr + 4 * outPadded);
    out.set(f32.subarray(outPtr / 4, outPtr / 4 + outLen));
  }
  return { run, outputsPerBlock: perBlock };
}
