/**
 * The phase-modulation operator kernel: one operator over a whole note,
 * `dst[i] (+)= scale · sin(2π·frac(inc·i) + π·Σ_k mod_k[i])`.
 *
 * Two implementations behind one interface ({@link FmKernel}), chosen once by
 * {@link defaultFmKernel}:
 * - WebAssembly SIMD (f32x4, four samples per step), generated here with `wasm-emit.ts`. The
 *   operator buffers live in the kernel's own wasm memory, so nothing is copied between JS and
 *   wasm: callers read and write them through `Float32Array` views.
 * - Plain JS with the interpolated sine table (the renderer's original loop), where WebAssembly
 *   SIMD is missing, and for DX7 self-feedback, whose one-sample recursion cannot be vectorised
 *   across time.
 *
 * Units. Modulation buffers hold phase offsets in **half-cycles** (π rad, {@link MOD_UNITS_PER_RAD}
 * per radian), so a modulator writes `β · MOD_UNITS_PER_RAD · sin(…)` with `scale` and a carrier
 * adds its inputs to its phase with no multiply. Half-cycles suit the wasm range reduction
 * (sin(πu) = (−1)^k sin(π(u − k)), k = round(u)), and are a power-of-two multiple of the sine
 * table's units (2048 per half-cycle), so the JS path rescales them exactly.
 *
 * Precision of the wasm path (float32 arithmetic, float64-exact phase), measured in
 * test/fm-kernel.test.ts: ≈ 3e-7 of full scale against Math.sin, at any modulation depth.
 * - The phase is a 64-bit fixed-point accumulator per lane (i64x2 adds wrap modulo one cycle for
 *   free): the increment is exact to 2⁻⁶⁴ cycle, so after 192 000 samples the phase error is
 *   < 1e-14 cycle, as good as the float64 closed form the reference renderer uses. Only its top
 *   32 bits are converted to float32 (in [−1, 1) half-cycle: rounding ≤ 3e-8 half-cycle).
 * - The modulation sum is reduced modulo one half-cycle on its own before it is added, so the
 *   float32 phase never exceeds ±1.5 half-cycles and its rounding (≤ 6e-8 half-cycle) does not
 *   grow with the modulation index (Σβ reaches 40 rad ≈ 13 half-cycles). Several inputs are
 *   first summed in float32, as the JS path (and the renderer before it) does; that sum rounds
 *   at its own magnitude (≤ 2⁻²⁴ of it per add), the same order as storing each input in float32.
 * - The sine is an odd degree-9 minimax polynomial in r ∈ [−½, ½] (πr ∈ [−π/2, π/2]): 3.3e-9 in
 *   exact arithmetic, ≈ 2e-7 of full scale evaluated in float32.
 * (The JS table path is within 3.2e-7: interpolation error (2π/4096)²/8 plus float32 output.)
 */
import { I32, V128, assembleModule, f32x4Const, op, shuffleOp, simd, simdOp, sleb, uleb, type FuncBody, type WasmMemory, wasmApi } from './wasm-emit.ts';
import { SINE_TABLE, SINE_TABLE_MASK, SINE_TABLE_OFFSET, SINE_TABLE_SIZE, TABLE_UNITS_PER_RAD } from './sine-table.ts';

/** Modulation-buffer units (half-cycles) per radian of phase: 1/π. */
export const MOD_UNITS_PER_RAD = 1 / Math.PI;

/** Most modulation inputs one operator pass sums (the DX7 routings use up to 3). */
export const MAX_MOD_INPUTS = 3;

/**
 * Coefficients c₁…c₅ of sin(πr) ≈ r·(c₁ + c₂r² + c₃r⁴ + c₄r⁶ + c₅r⁸) on r ∈ [−½, ½]: absolute-error
 * minimax (Remez exchange, equioscillating at ±3.34e-9), far below float32 evaluation error.
 */
export const SIN_PI_COEFFS: readonly number[] = Object.freeze([
  3.1415925800447386, -5.1677068789270413, 2.5500313772896055, -0.59804517416978276, 0.077220129036612115,
]);

/**
 * A buffer of `length` float32 samples owned by one kernel. Opaque: read and write it through
 * {@link FmKernel.view}.
 */
export interface FmBuffer {
  /** Samples. */
  readonly length: number;
}

/** An operator kernel with the buffers it works on. Not reentrant (JS is single-threaded). */
export interface FmKernel {
  /** Which implementation runs the feedback-free passes. */
  readonly kind: 'wasm-simd' | 'js';
  /** A zero-initialised buffer of `length` samples in the kernel's memory. */
  alloc(length: number): FmBuffer;
  /** Returns `buf`'s memory to the kernel; `buf` must not be used afterwards. */
  free(buf: FmBuffer): void;
  /**
   * A view of `buf`, shape [buf.length]. Valid until the next `alloc` (which may grow the
   * memory and detach older views): take a fresh view after allocating.
   */
  view(buf: FmBuffer): Float32Array;
  /**
   * One operator pass over `dst.length` samples, starting at phase 0:
   * `dst[i] = (accumulate ? dst[i] : 0) + scale · sin(2π·frac(incCycles·i) + π·Σ mods[k][i])`.
   *
   * @param dst output [n]; must not be one of `mods`.
   * @param accumulate add into `dst` (carriers sharing the mix) instead of overwriting it.
   * @param mods 0 … {@link MAX_MOD_INPUTS} modulation inputs in half-cycles, each [n], summed.
   * @param incCycles phase increment, cycles per sample (f / sampleRate); any finite value, taken
   *   modulo 1 (a frequency above the rate aliases as the sampled operator would).
   * @param scale output amplitude (a carrier's gain, or β · MOD_UNITS_PER_RAD for a modulator).
   * @param feedbackRad DX7 self-feedback depth, radians per unit of the operator's own output
   *   (0: none). Feedback passes always run in JS.
   */
  operator(dst: FmBuffer, accumulate: boolean, mods: readonly FmBuffer[], incCycles: number, scale: number, feedbackRad?: number): void;
}

/** Table units per modulation unit (half-cycle): a power of two, so rescaling is exact. */
const TABLE_UNITS_PER_MOD = SINE_TABLE_SIZE / 2;

/**
 * The JS operator loop (sine table with linear interpolation, phase in float64 table units,
 * wrapped every sample): the fallback kernel, and the path for DX7 self-feedback.
 *
 * @param dst output [n], overwritten or accumulated into.
 * @param mods modulation inputs in half-cycles, each [n] (any number).
 * @param incCycles cycles per sample, taken modulo 1.
 * @param scale output amplitude.
 * @param feedbackRad self-feedback depth, rad per unit output (0: none).
 * @param sumScratch optional [≥ n] buffer for the sum of several inputs (allocated if absent).
 */
export function jsOperatorLoop(
  dst: Float32Array,
  accumulate: boolean,
  mods: readonly Float32Array[],
  incCycles: number,
  scale: number,
  feedbackRad = 0,
  sumScratch?: Float32Array,
): void {
  const n = dst.length;
  for (const m of mods) {
    if (m.length < n) throw new Error(`jsOperatorLoop: modulation input has ${m.length} samples, expected ${n}`);
  }
  let mod: Float32Array | null = null;
  if (mods.length === 1) mod = mods[0];
  else if (mods.length > 1) {
    // Summed in float32 once, so the inner loops below read a single input.
    mod = sumScratch && sumScratch.length >= n ? sumScratch : new Float32Array(n);
    mod.set(mods[0].subarray(0, n));
    for (let k = 1; k < mods.length; k++) {
      const src = mods[k];
      for (let i = 0; i < n; i++) mod[i] += src[i];
    }
  }
  const T = SINE_TABLE;
  const N = SINE_TABLE_SIZE;
  const M = SINE_TABLE_MASK;
  const OFF = SINE_TABLE_OFFSET;
  const U = TABLE_UNITS_PER_MOD;
  let inc = (incCycles % 1) * N;
  if (inc < 0) inc += N;
  let ph = 0;
  if (feedbackRad !== 0) {
    // DX7 feedback: the operator's own last two (unit) outputs, averaged, delayed by one sample.
    const half = 0.5 * feedbackRad * TABLE_UNITS_PER_RAD;
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const x = ph + (mod ? mod[i] * U : 0) + half * (s1 + s2) + OFF;
      const k = x | 0;
      const j = k & M;
      const a = T[j];
      const s = a + (x - k) * (T[j + 1] - a);
      s2 = s1;
      s1 = s;
      dst[i] = accumulate ? dst[i] + scale * s : scale * s;
      ph += inc;
      if (ph >= N) ph -= N;
    }
    return;
  }
  // The four branch-free variants differ only in whether a modulation input is read and whether
  // the output accumulates; splitting them keeps each inner loop minimal for the JIT.
  if (mod === null && !accumulate) {
    for (let i = 0; i < n; i++) {
      const x = ph + OFF;
      const k = x | 0;
      const j = k & M;
      const a = T[j];
      dst[i] = scale * (a + (x - k) * (T[j + 1] - a));
      ph += inc;
      if (ph >= N) ph -= N;
    }
  } else if (mod === null) {
    for (let i = 0; i < n; i++) {
      const x = ph + OFF;
      const k = x | 0;
      const j = k & M;
      const a = T[j];
      dst[i] += scale * (a + (x - k) * (T[j + 1] - a));
      ph += inc;
      if (ph >= N) ph -= N;
    }
  } else if (!accumulate) {
    for (let i = 0; i < n; i++) {
      const x = ph + mod[i] * U + OFF;
      const k = x | 0;
      const j = k & M;
      const a = T[j];
      dst[i] = scale * (a + (x - k) * (T[j + 1] - a));
      ph += inc;
      if (ph >= N) ph -= N;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const x = ph + mod[i] * U + OFF;
      const k = x | 0;
      const j = k & M;
      const a = T[j];
      dst[i] += scale * (a + (x - k) * (T[j + 1] - a));
      ph += inc;
      if (ph >= N) ph -= N;
    }
  }
}

function checkPass(dst: FmBuffer, mods: readonly FmBuffer[], incCycles: number, scale: number, feedbackRad: number): void {
  if (mods.length > MAX_MOD_INPUTS) throw new Error(`operator: at most ${MAX_MOD_INPUTS} modulation inputs, got ${mods.length}`);
  for (const m of mods) {
    if (m === dst) throw new Error('operator: dst must not also be a modulation input');
    if (m.length !== dst.length) throw new Error(`operator: modulation input has ${m.length} samples, dst ${dst.length}`);
  }
  if (!Number.isFinite(incCycles) || !Number.isFinite(scale) || !Number.isFinite(feedbackRad)) {
    throw new Error('operator: increment, scale and feedback must be finite');
  }
}

/** A JS-heap buffer of the fallback kernel. */
class JsBuffer implements FmBuffer {
  freed = false;
  constructor(
    readonly owner: object,
    readonly data: Float32Array,
  ) {}
  get length(): number {
    return this.data.length;
  }
}

/** The fallback kernel: JS-heap buffers and {@link jsOperatorLoop}. */
export function createJsFmKernel(): FmKernel {
  const owner = {};
  let sum = new Float32Array(0);
  const own = (buf: FmBuffer): JsBuffer => {
    if (!(buf instanceof JsBuffer) || buf.owner !== owner) throw new Error('buffer belongs to another kernel');
    if (buf.freed) throw new Error('buffer was freed');
    return buf;
  };
  return {
    kind: 'js',
    alloc(length: number): FmBuffer {
      if (!Number.isInteger(length) || length < 0) throw new Error(`alloc: bad length ${length}`);
      return new JsBuffer(owner, new Float32Array(length));
    },
    free(buf: FmBuffer): void {
      own(buf).freed = true;
    },
    view(buf: FmBuffer): Float32Array {
      return own(buf).data;
    },
    operator(dst, accumulate, mods, incCycles, scale, feedbackRad = 0): void {
      checkPass(dst, mods, incCycles, scale, feedbackRad);
      if (mods.length > 1 && sum.length < dst.length) sum = new Float32Array(dst.length);
      jsOperatorLoop(own(dst).data, accumulate, mods.map((m) => own(m).data), incCycles, scale, feedbackRad, sum);
    },
  };
}

/*
 * ---- WebAssembly SIMD kernel ----
 *
 * Memory layout: bytes 0…127 hold one pass's parameters, written by JS before each call
 * (STATE_*), then 64-byte-aligned buffers, each padded to whole 16-sample blocks so that the
 * four-lane loop can run past an odd length without touching a neighbour.
 */


const PAGE = 65536;
const STATE_P01 = 0; // i64x2 phases of lanes 0, 1 (64-bit fixed point, cycles)
const STATE_P23 = 16; // lanes 2, 3
const STATE_INC4 = 32; // i64x2 splat of 4 × increment
const STATE_COEF = 48; // 5 × f32: scale · c₁…c₅
const HEAP_START = 128;
const ALIGN = 64;
const TWO_64 = 1n << 64n;

/** 1.5 · 2²³: float32 x + ROUNDER − ROUNDER = round(x) (ties to even) for |x| < 2²², and the low
 * mantissa bit of x + ROUNDER is round(x)'s parity, as ROUNDER is even. */
const ROUNDER = 1.5 * 2 ** 23;

/** Samples per loop iteration of a pass (vectors × 4): buffers are padded to a multiple. */
const STEP_SAMPLES = 8;

/**
 * Emits one pass: `(dst, end, in₀ … in_{nIn−1})`, byte addresses, `end` = dst + 4 × (samples
 * rounded up to STEP_SAMPLES). Per four samples: two i64x2 adds advance the phases; a shuffle
 * takes the top 32 bits of each lane, converted to float32 half-cycles φ ∈ [−1, 1); the inputs'
 * sum s is reduced on its own (m = s − round(s), so the phase sum stays within ±1.5 half-cycles
 * and its rounding does not grow with the modulation depth); u = φ + m is reduced to r = u −
 * round(u) ∈ [−½, ½]; the polynomial (scale folded into its coefficients) gives scale·sin(πr);
 * and the parity of the two roundings, moved into the sign bit, gives the factor (−1)^k.
 *
 * Rounding is done with the ROUNDER add/subtract rather than `f32x4.nearest` + `trunc_sat`:
 * the sum's bit pattern carries the parity for free, where `i32x4.trunc_sat_f32x4_s` costs
 * about seven instructions on SSE4 (saturation and NaN fix-ups). Two steps per iteration halve
 * the loop overhead (pointer bumps, compare, branch).
 */
function emitPass(nIn: number, accumulate: boolean): FuncBody {
  const DST = 0;
  const END = 1;
  const IN = (k: number): number => 2 + k;
  let next = 2 + nIn;
  const local = (): number => next++;
  const [P01, P23, INC, SC, RND, S, TM, U, T, R, R2] = Array.from({ length: 11 }, local);
  const C = Array.from({ length: SIN_PI_COEFFS.length }, local);
  const code: number[] = [];
  const get = (i: number): void => void code.push(op.localGet, ...uleb(i));
  const set = (i: number): void => void code.push(op.localSet, ...uleb(i));
  const tee = (i: number): void => void code.push(op.localTee, ...uleb(i));
  const s = (c: number, memarg?: readonly [number, number]): void => void code.push(...simdOp(c, memarg));
  const bump = (i: number): void => {
    get(i);
    code.push(op.i32Const, ...sleb(4 * STEP_SAMPLES), op.i32Add);
    set(i);
  };

  for (const [l, offset] of [[P01, STATE_P01], [P23, STATE_P23], [INC, STATE_INC4]] as const) {
    code.push(op.i32Const, 0);
    s(simd.v128Load, [4, offset]);
    set(l);
  }
  C.forEach((l, j) => {
    code.push(op.i32Const, 0);
    s(simd.v128Load32Splat, [2, STATE_COEF + 4 * j]);
    set(l);
  });
  code.push(...f32x4Const([2 ** -31, 2 ** -31, 2 ** -31, 2 ** -31]));
  set(SC);
  code.push(...f32x4Const([ROUNDER, ROUNDER, ROUNDER, ROUNDER]));
  set(RND);
  code.push(op.loop, op.blockVoid);
  for (let v = 0; v < STEP_SAMPLES / 4; v++) {
    const at = 16 * v;
    get(DST); // address operand of the store at the end of the step
    // φ = hi32(phase) · 2⁻³¹. Little-endian: lane j's top word is bytes 8j + 4 … 8j + 7.
    get(P01);
    get(P23);
    code.push(...shuffleOp([4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31]));
    s(simd.f32x4ConvertI32x4S);
    get(SC);
    s(simd.f32x4Mul);
    if (nIn > 0) {
      for (let k = 0; k < nIn; k++) {
        get(IN(k));
        s(simd.v128Load, [4, at]);
        if (k > 0) s(simd.f32x4Add);
      }
      tee(S);
      get(S);
      get(RND);
      s(simd.f32x4Add);
      tee(TM);
      get(RND);
      s(simd.f32x4Sub);
      s(simd.f32x4Sub); // m = s − round(s), exact
      s(simd.f32x4Add); // u = φ + m
    }
    tee(U);
    get(U);
    get(RND);
    s(simd.f32x4Add);
    tee(T);
    get(RND);
    s(simd.f32x4Sub);
    s(simd.f32x4Sub); // r = u − round(u), exact (Sterbenz)
    tee(R);
    get(R);
    s(simd.f32x4Mul);
    set(R2);
    // Horner in r², then × r.
    get(C[4]);
    for (let j = 3; j >= 0; j--) {
      get(R2);
      s(simd.f32x4Mul);
      get(C[j]);
      s(simd.f32x4Add);
    }
    get(R);
    s(simd.f32x4Mul);
    // Sign flip by the parity of round(u) + round(s): low mantissa bits, into the sign bit.
    get(T);
    if (nIn > 0) {
      get(TM);
      s(simd.v128Xor);
    }
    code.push(op.i32Const, 31);
    s(simd.i32x4Shl);
    s(simd.v128Xor);
    if (accumulate) {
      get(DST);
      s(simd.v128Load, [4, at]);
      s(simd.f32x4Add);
    }
    s(simd.v128Store, [4, at]);
    for (const p of [P01, P23]) {
      get(p);
      get(INC);
      s(simd.i64x2Add);
      set(p);
    }
  }
  bump(DST);
  for (let k = 0; k < nIn; k++) bump(IN(k));
  get(DST);
  get(END);
  code.push(op.i32LtU, op.br_if, 0, op.end);
  return {
    params: Array.from({ length: 2 + nIn }, () => I32),
    locals: [[next - 2 - nIn, V128]],
    code,
    exportName: `pass${nIn}${accumulate ? 'a' : 'w'}`,
  };
}

/** Increment in 64-bit fixed point (2⁶⁴ per cycle), rounded to nearest, modulo one cycle. */
function fixedIncrement(incCycles: number): bigint {
  let x = incCycles % 1;
  if (x < 0) x += 1;
  // x · 2³² and its fractional part are exact in float64; only the last step rounds (≤ 2⁻⁶⁵).
  const scaled = x * 2 ** 32;
  const hi = Math.floor(scaled);
  const lo = Math.round((scaled - hi) * 2 ** 32);
  return ((BigInt(hi) << 32n) + BigInt(lo)) % TWO_64;
}

/** A region of the wasm kernel's memory. */
class WasmBuffer implements FmBuffer {
  freed = false;
  cached: Float32Array | null = null;
  constructor(
    readonly owner: object,
    readonly byteOffset: number,
    readonly byteCapacity: number,
    readonly length: number,
  ) {}
}

type PassFn = (dst: number, end: number, ...inputs: number[]) => void;

/**
 * The WebAssembly SIMD kernel, or null where this runtime has no WebAssembly SIMD.
 *
 * @param initialBytes memory to reserve up front (it grows on demand anyway).
 */
export function createWasmFmKernel(initialBytes = 0): FmKernel | null {
  const api = wasmApi();
  if (api === undefined) return null;
  const funcs: FuncBody[] = [];
  for (let nIn = 0; nIn <= MAX_MOD_INPUTS; nIn++) funcs.push(emitPass(nIn, false), emitPass(nIn, true));
  const pages = Math.max(1, Math.ceil((HEAP_START + initialBytes) / PAGE));
  const bytes = assembleModule(funcs, pages);
  if (!api.validate(bytes)) return null; // no SIMD here (or, in development, a bad encoding)
  const exp = new api.Instance(new api.Module(bytes), {}).exports as Record<string, unknown> & { memory: WasmMemory };
  const memory = exp.memory;
  const passes: PassFn[][] = [];
  for (let nIn = 0; nIn <= MAX_MOD_INPUTS; nIn++) passes.push([exp[`pass${nIn}w`] as PassFn, exp[`pass${nIn}a`] as PassFn]);

  let u64 = new BigUint64Array(memory.buffer, 0, HEAP_START / 8);
  let f32 = new Float32Array(memory.buffer, 0, HEAP_START / 4);
  const refreshState = (): void => {
    if (u64.buffer !== memory.buffer) {
      u64 = new BigUint64Array(memory.buffer, 0, HEAP_START / 8);
      f32 = new Float32Array(memory.buffer, 0, HEAP_START / 4);
    }
  };

  // First-fit allocator over [HEAP_START, top) with a sorted, coalesced free list. Renders
  // allocate a handful of note-sized buffers and free them together, so this stays tiny.
  const owner = {};
  let top = HEAP_START;
  const freeList: { offset: number; size: number }[] = [];
  let feedbackSum = new Float32Array(0);

  const own = (buf: FmBuffer): WasmBuffer => {
    if (!(buf instanceof WasmBuffer) || buf.owner !== owner) throw new Error('buffer belongs to another kernel');
    if (buf.freed) throw new Error('buffer was freed');
    return buf;
  };
  const view = (buf: FmBuffer): Float32Array => {
    const b = own(buf);
    if (b.cached === null || b.cached.buffer !== memory.buffer) b.cached = new Float32Array(memory.buffer, b.byteOffset, b.length);
    return b.cached;
  };

  return {
    kind: 'wasm-simd',
    alloc(length: number): FmBuffer {
      if (!Number.isInteger(length) || length < 0) throw new Error(`alloc: bad length ${length}`);
      // Whole 16-sample blocks: a pass runs up to the next multiple of STEP_SAMPLES (8) samples.
      const size = Math.max(ALIGN, Math.ceil((4 * length) / ALIGN) * ALIGN);
      let offset = -1;
      const slot = freeList.findIndex((f) => f.size >= size);
      if (slot >= 0) {
        const f = freeList[slot];
        offset = f.offset;
        if (f.size === size) freeList.splice(slot, 1);
        else {
          f.offset += size;
          f.size -= size;
        }
      } else {
        offset = top;
        top += size;
        if (top > memory.buffer.byteLength) {
          // Grow geometrically: fewer detaches of existing views.
          const need = Math.ceil((top - memory.buffer.byteLength) / PAGE);
          memory.grow(Math.max(need, Math.ceil(memory.buffer.byteLength / PAGE / 2)));
        }
      }
      new Uint8Array(memory.buffer, offset, size).fill(0);
      return new WasmBuffer(owner, offset, size, length);
    },
    free(buf: FmBuffer): void {
      const b = own(buf);
      b.freed = true;
      b.cached = null;
      let i = 0;
      while (i < freeList.length && freeList[i].offset < b.byteOffset) i++;
      freeList.splice(i, 0, { offset: b.byteOffset, size: b.byteCapacity });
      // Coalesce with the neighbours, then give a trailing block back to the bump pointer.
      if (i + 1 < freeList.length && freeList[i].offset + freeList[i].size === freeList[i + 1].offset) {
        freeList[i].size += freeList[i + 1].size;
        freeList.splice(i + 1, 1);
      }
      if (i > 0 && freeList[i - 1].offset + freeList[i - 1].size === freeList[i].offset) {
        freeList[i - 1].size += freeList[i].size;
        freeList.splice(i, 1);
      }
      const last = freeList[freeList.length - 1];
      if (last.offset + last.size === top) {
        top = last.offset;
        freeList.pop();
      }
    },
    view,
    operator(dst, accumulate, mods, incCycles, scale, feedbackRad = 0): void {
      checkPass(dst, mods, incCycles, scale, feedbackRad);
      const d = own(dst);
      const ins = mods.map(own);
      const n = d.length;
      if (n === 0) return;
      if (feedbackRad !== 0) {
        if (mods.length > 1 && feedbackSum.length < n) feedbackSum = new Float32Array(n);
        jsOperatorLoop(view(d), accumulate, ins.map(view), incCycles, scale, feedbackRad, feedbackSum);
        return;
      }
      refreshState();
      const inc = fixedIncrement(incCycles);
      u64[STATE_P01 / 8] = 0n;
      u64[STATE_P01 / 8 + 1] = inc;
      u64[STATE_P23 / 8] = (2n * inc) % TWO_64;
      u64[STATE_P23 / 8 + 1] = (3n * inc) % TWO_64;
      u64[STATE_INC4 / 8] = u64[STATE_INC4 / 8 + 1] = (4n * inc) % TWO_64;
      for (let j = 0; j < 5; j++) f32[STATE_COEF / 4 + j] = scale * SIN_PI_COEFFS[j];
      const end = d.byteOffset + 4 * STEP_SAMPLES * Math.ceil(n / STEP_SAMPLES);
      const pass = passes[ins.length][accumulate ? 1 : 0];
      if (ins.length === 0) pass(d.byteOffset, end);
      else if (ins.length === 1) pass(d.byteOffset, end, ins[0].byteOffset);
      else if (ins.length === 2) pass(d.byteOffset, end, ins[0].byteOffset, ins[1].byteOffset);
      else pass(d.byteOffset, end, ins[0].byteOffset, ins[1].byteOffset, ins[2].byteOffset);
    },
  };
}

let chosen: FmKernel | undefined;

/**
 * The process-wide kernel: WebAssembly SIMD if this runtime has it, else JS. Chosen on first use
 * and kept, so every render in a worker shares one memory.
 */
export function defaultFmKernel(): FmKernel {
  if (chosen === undefined) chosen = createWasmFmKernel() ?? createJsFmKernel();
  return chosen;
}
