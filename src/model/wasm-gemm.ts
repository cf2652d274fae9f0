/**
 * Strided matrix products in WebAssembly SIMD, multi-threaded, for the convolutions of the paper's
 * CNN on the wasm backend (no tfjs here; `wasm-kernels.ts` maps tfjs kernels onto these).
 *
 * Why our own: tfjs-backend-wasm's XNNPACK convolutions reach ≈ 80 % of the SIMD128 peak forward
 * but 25–60 % in the gradients we compose from them (transposes, a 63,744-long reduction), and
 * SIMD128 has no fused multiply-add. V8 has relaxed SIMD (`f32x4.relaxed_madd`, an FMA on x86 with
 * FMA3 and on ARM), which doubles the arithmetic per instruction; tfjs's binary does not use it.
 *
 * Two products over "strided rows": row m = (batch b, position t) of A starts at
 * `a + b·aBatch + t·aRow` and is K floats long. For a 1-D channels-last convolution with dilation
 * 1, the input patch of output position t is exactly such a row (`aRow` = stride·C floats,
 * K = kernel·C), so no patch matrix is ever built.
 *
 * - {@link GemmEngine.gemm}: C[m, n] = act(Σ_k A_m[k] · B[k, n] + bias) (forward; and the input
 *   gradient, written as a correlation of the padded output gradient with regrouped filter taps);
 *   {@link GemmEngine.convDirect}, the same for short reductions; {@link GemmEngine.matmul}, a
 *   Dense layer's product.
 * - {@link GemmEngine.gradW}: W[k, n] = Σ_m A_m[k] · D[m, n] (the filter gradient).
 * - {@link GemmEngine.convWinograd} / {@link GemmEngine.gradWWinograd}: both for kernels of an
 *   even number of strides, in a Winograd form over tap pairs (3/4 of the multiply-adds; the sums
 *   regrouped, see `winoInputBody`).
 *
 * Every output element is summed by one thread, in an order fixed by the shapes alone (increasing
 * k or m for the plain products), whatever the thread count and blocking: results are identical
 * for 1 or N threads. With relaxed SIMD the multiply-add
 * may be fused or not depending on the CPU (the spec allows either), so bytes can differ between
 * machines, never between runs on one machine.
 */
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { I32, V128, assembleModule, f32x4Const, op, simd, simdOp, sleb, uleb } from '../dsp/wasm-emit.ts';

/** The parts of the WebAssembly JS API used here (the project's `lib` declares none). */
export interface SharedMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmJs {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => SharedMemory;
}
const wasmJs = (): WasmJs => {
  const api = (globalThis as { WebAssembly?: WasmJs }).WebAssembly;
  if (api === undefined) throw new Error('this runtime has no WebAssembly');
  return api;
};

/** Rows of the forward micro-kernel (output rows computed together). */
const MR = 4;
/** Columns of both micro-kernels: two f32x4 accumulators per row. */
export const NR = 8;
/** Rows of A in one cache block (forward) / positions per block (filter gradient). */
const MC = 128;
/** Rows summed in float32 before the float64 total in {@link GemmEngine.colSums}. */
export const SUM_CHUNK_ROWS = 256;
/**
 * Reduction length per cache block of the forward kernel with B packed (a B panel of KC × 8
 * floats, 64 KiB). Measured on the paper's CNN (2 threads, FMA): conv2 (K = 2,048) 109 ms at 2,048
 * vs 113 at 1,024 and 120 at 512 (one block saves reloading the partial sums); conv3 (K = 16,384)
 * the same within noise.
 */
const KC = 2048;
/** The same with B row-major (a Dense layer's weights): measured 4.7 ms at 1,024, 4.9 at 256 for [32, 3,008]·[3,008, 1,504]. */
const KC_ROW_MAJOR = 1024;

const f32x4RelaxedMadd = 0x105;
const F32X4_MAX = 0xe9;

const opx = {
  ...op,
  if: 0x04,
  else: 0x05,
  br: 0x0c,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32And: 0x71,
  i32GeU: 0x4f,
  i32GtU: 0x4b,
  i32LeU: 0x4d,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32DivU: 0x6e,
  i32RemU: 0x70,
  select: 0x1b,
} as const;

/** A tiny code builder: locals by index, structured loops. */
class Code {
  readonly bytes: number[] = [];
  emit(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  get(i: number): this {
    return this.emit(opx.localGet, ...uleb(i));
  }
  set(i: number): this {
    return this.emit(opx.localSet, ...uleb(i));
  }
  i32(v: number): this {
    return this.emit(opx.i32Const, ...sleb(v));
  }
  /** local[i] += value (the value's code is pushed by `value`). */
  addTo(i: number, value: (c: this) => void): this {
    this.get(i);
    value(this);
    return this.emit(opx.i32Add).set(i);
  }
  /** while (cond) { body } — `cond` pushes an i32. */
  loopWhile(cond: (c: this) => void, body: (c: this) => void): this {
    this.emit(opx.block, opx.blockVoid, opx.loop, opx.blockVoid);
    cond(this);
    this.emit(opx.i32Eqz, opx.br_if, 1);
    body(this);
    return this.emit(opx.br, 0, opx.end, opx.end);
  }
  ifElse(cond: (c: this) => void, then: (c: this) => void, otherwise: (c: this) => void): this {
    cond(this);
    this.emit(opx.if, opx.blockVoid);
    then(this);
    this.emit(opx.else);
    otherwise(this);
    return this.emit(opx.end);
  }
  /** local[dst] = min(local[x], local[y]) (unsigned). */
  minU(dst: number, x: (c: this) => void, y: (c: this) => void): this {
    x(this);
    y(this);
    x(this);
    y(this);
    return this.emit(opx.i32LtU, opx.select).set(dst);
  }
  load(memOffset: number): this {
    return this.emit(...simdOp(simd.v128Load, [4, 0]).slice(0, -1), ...uleb(memOffset));
  }
  store(memOffset: number): this {
    return this.emit(...simdOp(simd.v128Store, [4, 0]).slice(0, -1), ...uleb(memOffset));
  }
  splat(memOffset: number): this {
    return this.emit(...simdOp(simd.v128Load32Splat, [2, 0]).slice(0, -1), ...uleb(memOffset));
  }
}

/**
 * acc = s·b + acc on the stack order (s, b, acc): `relaxed_madd` where available, else a multiply
 * and an add.
 */
function madd(c: Code, fma: boolean, s: number, b: number, acc: number): void {
  c.get(s).get(b);
  if (fma) c.get(acc).emit(...simdOp(f32x4RelaxedMadd));
  else c.emit(...simdOp(simd.f32x4Mul)).get(acc).emit(...simdOp(simd.f32x4Add));
  c.set(acc);
}

/** Epilogue flag: apply max(·, 0) after the bias. */
export const EPILOGUE_RELU = 1;
/** Flag of `winoOutput` only: add to what the output holds (before bias and ReLU). */
const ACCUMULATE = 2;

/**
 * Adds the bias (8 floats at `bias + ns·4`, when `bias` ≠ 0) to the two accumulators of a row and
 * applies ReLU when `flags` has {@link EPILOGUE_RELU}: in that order, as tfjs's fused kernels do,
 * so the result is the same float32 as the product, a bias Add and a Relu run one after another.
 * (`f32x4.max` keeps NaN, as tfjs's Relu does.)
 */
function epilogue(c: Code, bias: number, flags: number, ns: number, acc0: number, acc1: number): void {
  c.ifElse(
    (x) => x.get(bias),
    (x) => {
      x.get(acc0).get(bias).get(ns).i32(4).emit(opx.i32Mul, opx.i32Add).load(0).emit(...simdOp(simd.f32x4Add)).set(acc0);
      x.get(acc1).get(bias).get(ns).i32(4).emit(opx.i32Mul, opx.i32Add).load(16).emit(...simdOp(simd.f32x4Add)).set(acc1);
    },
    () => undefined,
  );
  c.ifElse(
    (x) => x.get(flags).i32(EPILOGUE_RELU).emit(opx.i32And),
    (x) => {
      x.get(acc0).emit(...f32x4Const([0, 0, 0, 0]), ...simdOp(F32X4_MAX)).set(acc0);
      x.get(acc1).emit(...f32x4Const([0, 0, 0, 0]), ...simdOp(F32X4_MAX)).set(acc1);
    },
    () => undefined,
  );
}

/**
 * gemm(a, aBatch, aRow, T, m0, m1, K, b, N, c, slabStride, ldb, cBatch, bias, flags): for rows
 * m ∈ [m0, m1) (m = b·T + t), C[m, n] = act(Σ_k A_m[k] · B[k, n] + bias[n]). Byte
 * addresses/strides. Columns 8j … 8j + 7 of B's row k are 8 floats at b + j·slabStride + k·ldb:
 * (K·32, 32) for B packed as [N/8][K][8], (32, N·4) for B row-major. Row (b, t) of C is N floats
 * at c + b·cBatch + t·N·4. `bias` 0 means none; `flags` {@link EPILOGUE_RELU} or 0 (see
 * {@link epilogue}; applied once, after the last K block).
 */
function gemmBody(fma: boolean, packed: boolean): { params: number[]; locals: [number, number][]; code: number[] } {
  const [A, ABATCH, AROW, T, M0, M1, K, B, N, C, SLAB, LDB, CBATCH, BIAS, FLAGS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
  const [KC0, KCEND, MC0, MCEND, NS, M, BP, KLEN, CP, CROW] = [15, 16, 17, 18, 19, 20, 21, 22, 23, 24];
  const P0 = 25; // MR row pointers
  const nI32 = P0 + MR - 15;
  const ACC = P0 + MR; // 2·MR accumulators, then b0, b1, s
  const B0 = ACC + 2 * MR;
  const B1 = B0 + 1;
  const S = B1 + 1;
  const c = new Code();

  /** p_i = a + ((m+i)/T)·aBatch + ((m+i)%T)·aRow + kc·4 */
  const rowPtr = (i: number): void => {
    c.get(A);
    c.get(M).i32(i).emit(opx.i32Add).get(T).emit(opx.i32DivU).get(ABATCH).emit(opx.i32Mul, opx.i32Add);
    c.get(M).i32(i).emit(opx.i32Add).get(T).emit(opx.i32RemU).get(AROW).emit(opx.i32Mul, opx.i32Add);
    c.get(KC0).i32(4).emit(opx.i32Mul, opx.i32Add).set(P0 + i);
  };
  /** cp = c + ((m+i)/T)·cBatch + ((m+i)%T)·N·4 + ns·4 */
  const cRow = (i: number): void => {
    c.get(C);
    c.get(M).i32(i).emit(opx.i32Add).get(T).emit(opx.i32DivU).get(CBATCH).emit(opx.i32Mul, opx.i32Add);
    c.get(M).i32(i).emit(opx.i32Add).get(T).emit(opx.i32RemU).get(CROW).emit(opx.i32Mul, opx.i32Add);
    c.get(NS).i32(4).emit(opx.i32Mul, opx.i32Add).set(CP);
  };
  /** The micro-kernel over k ∈ [kc0, kcEnd) for `rows` rows (1 or MR) and columns [ns, ns+8). */
  const micro = (rows: number): void => {
    for (let i = 0; i < rows; i++) rowPtr(i);
    // bp = b + (ns/8)·slabStride + kc0·ldb: the 8 columns ns … ns+7 of row kc0.
    c.get(B).get(NS).i32(8).emit(opx.i32DivU).get(SLAB).emit(opx.i32Mul, opx.i32Add).get(KC0).get(LDB).emit(opx.i32Mul, opx.i32Add).set(BP);
    // Accumulators start at 0 in the first K block, else at the partial sums in C.
    for (let i = 0; i < rows; i++) {
      cRow(i);
      c.ifElse(
        (x) => x.get(KC0).emit(opx.i32Eqz),
        (x) => {
          x.emit(...f32x4Const([0, 0, 0, 0])).set(ACC + 2 * i);
          x.emit(...f32x4Const([0, 0, 0, 0])).set(ACC + 2 * i + 1);
        },
        (x) => {
          x.get(CP).load(0).set(ACC + 2 * i);
          x.get(CP).load(16).set(ACC + 2 * i + 1);
        },
      );
    }
    // KLEN: where row 0's pointer ends (the loop's only counter).
    c.get(P0).get(KCEND).get(KC0).emit(opx.i32Sub).i32(4).emit(opx.i32Mul, opx.i32Add).set(KLEN);
    // One k step per loop iteration: unrolled (by 2 or 4, with the step in load offsets), V8 hoists
    // the next steps' loads above this step's multiply-adds and spills accumulators (measured on
    // conv2: 149 ms unrolled by 2, 138 by 4, 106 not unrolled). Six or five rows per micro-kernel
    // (12 or 10 accumulators) spill too (153 / 164 ms).
    c.loopWhile(
      (x) => x.get(P0).get(KLEN).emit(opx.i32LtU),
      () => {
        c.get(BP).load(0).set(B0);
        c.get(BP).load(16).set(B1);
        for (let i = 0; i < rows; i++) {
          c.get(P0 + i).splat(0).set(S);
          madd(c, fma, S, B0, ACC + 2 * i);
          madd(c, fma, S, B1, ACC + 2 * i + 1);
        }
        for (let i = 0; i < rows; i++) c.addTo(P0 + i, (x) => x.i32(4));
        // (an immediate step when packed: measured 3 % faster than a step in a local)
        c.addTo(BP, (x) => (packed ? x.i32(NR * 4) : x.get(LDB)));
      },
    );
    for (let i = 0; i < rows; i++) {
      cRow(i);
      c.ifElse(
        (x) => x.get(KCEND).get(K).emit(opx.i32Eq),
        (x) => epilogue(x, BIAS, FLAGS, NS, ACC + 2 * i, ACC + 2 * i + 1),
        () => undefined,
      );
      c.get(CP).get(ACC + 2 * i).store(0);
      c.get(CP).get(ACC + 2 * i + 1).store(16);
    }
  };

  c.get(N).i32(4).emit(opx.i32Mul).set(CROW);
  // for kc0 in 0..K step KC
  c.i32(0).set(KC0);
  c.loopWhile(
    (x) => x.get(KC0).get(K).emit(opx.i32LtU),
    () => {
      c.minU(KCEND, (x) => x.get(KC0).i32(packed ? KC : KC_ROW_MAJOR).emit(opx.i32Add), (x) => x.get(K));
      c.get(M0).set(MC0);
      c.loopWhile(
        (x) => x.get(MC0).get(M1).emit(opx.i32LtU),
        () => {
          c.minU(MCEND, (x) => x.get(MC0).i32(MC).emit(opx.i32Add), (x) => x.get(M1));
          c.i32(0).set(NS);
          c.loopWhile(
            (x) => x.get(NS).get(N).emit(opx.i32LtU),
            () => {
              c.get(MC0).set(M);
              c.loopWhile(
                (x) => x.get(M).i32(MR).emit(opx.i32Add).get(MCEND).emit(opx.i32LeU),
                () => {
                  micro(MR);
                  c.addTo(M, (x) => x.i32(MR));
                },
              );
              c.loopWhile(
                (x) => x.get(M).get(MCEND).emit(opx.i32LtU),
                () => {
                  micro(1);
                  c.addTo(M, (x) => x.i32(1));
                },
              );
              c.addTo(NS, (x) => x.i32(NR));
            },
          );
          c.get(MCEND).set(MC0);
        },
      );
      c.get(KCEND).set(KC0);
    },
  );
  return { params: Array<number>(15).fill(I32), locals: [[nI32, I32], [2 * MR + 3, V128]], code: c.bytes };
}

/**
 * convDirect(x, xBatch, xRow, T, m0, m1, K, w, N, y, bias, flags): the forward product for a
 * short reduction (a first layer's K·C = 5): y[m, n] = act(Σ_k X_m[k] · W[k, n] + bias[n]) for
 * rows m ∈ [m0, m1), X_m at x + b·xBatch + t·xRow (m = b·T + t), W packed [N/8][K][8], y rows N
 * floats apart. Where {@link gemmBody} spends a division per row and cache blocks that only pay
 * over long reductions, this walks the rows of each batch item with pointer increments, four rows
 * per step, all N columns of a row group before the next (the rows stay in L1).
 */
function convDirectBody(fma: boolean): { params: number[]; locals: [number, number][]; code: number[] } {
  const [X, XBATCH, XROW, T, M0, M1, K, W, N, Y, BIAS, FLAGS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [M, BI, TI, TEND, ROW, YROW, NS, WP, KK, YP] = [12, 13, 14, 15, 16, 17, 18, 19, 20, 21];
  const P0 = 22;
  const nI32 = P0 + MR - 12;
  const ACC = P0 + MR;
  const B0 = ACC + 2 * MR;
  const B1 = B0 + 1;
  const S = B1 + 1;
  const c = new Code();

  /** One group of `rows` consecutive positions of one batch item, starting at ROW / YROW. */
  const group = (rows: number): void => {
    c.i32(0).set(NS);
    c.loopWhile(
      (x) => x.get(NS).get(N).emit(opx.i32LtU),
      () => {
        // wp = w + (ns/8)·K·32
        c.get(W).get(NS).i32(8).emit(opx.i32DivU).get(K).emit(opx.i32Mul).i32(NR * 4).emit(opx.i32Mul, opx.i32Add).set(WP);
        for (let i = 0; i < rows; i++) {
          c.get(ROW);
          if (i > 0) c.get(XROW).i32(i).emit(opx.i32Mul, opx.i32Add);
          c.set(P0 + i);
          c.emit(...f32x4Const([0, 0, 0, 0])).set(ACC + 2 * i);
          c.emit(...f32x4Const([0, 0, 0, 0])).set(ACC + 2 * i + 1);
        }
        c.i32(0).set(KK);
        c.loopWhile(
          (x) => x.get(KK).get(K).emit(opx.i32LtU),
          () => {
            c.get(WP).load(0).set(B0);
            c.get(WP).load(16).set(B1);
            for (let i = 0; i < rows; i++) {
              c.get(P0 + i).splat(0).set(S);
              madd(c, fma, S, B0, ACC + 2 * i);
              madd(c, fma, S, B1, ACC + 2 * i + 1);
            }
            for (let i = 0; i < rows; i++) c.addTo(P0 + i, (x) => x.i32(4));
            c.addTo(WP, (x) => x.i32(NR * 4));
            c.addTo(KK, (x) => x.i32(1));
          },
        );
        for (let i = 0; i < rows; i++) {
          epilogue(c, BIAS, FLAGS, NS, ACC + 2 * i, ACC + 2 * i + 1);
          // yp = yrow + (i·N + ns)·4
          c.get(YROW).get(N).i32(i).emit(opx.i32Mul).get(NS).emit(opx.i32Add).i32(4).emit(opx.i32Mul, opx.i32Add).set(YP);
          c.get(YP).get(ACC + 2 * i).store(0);
          c.get(YP).get(ACC + 2 * i + 1).store(16);
        }
        c.addTo(NS, (x) => x.i32(NR));
      },
    );
  };

  c.get(M0).set(M);
  c.loopWhile(
    (x) => x.get(M).get(M1).emit(opx.i32LtU),
    () => {
      c.get(M).get(T).emit(opx.i32DivU).set(BI);
      c.get(M).get(T).emit(opx.i32RemU).set(TI);
      // The rows of this batch item in [m, m1).
      c.minU(TEND, (x) => x.get(T), (x) => x.get(TI).get(M1).emit(opx.i32Add).get(M).emit(opx.i32Sub));
      c.get(X).get(BI).get(XBATCH).emit(opx.i32Mul, opx.i32Add).get(TI).get(XROW).emit(opx.i32Mul, opx.i32Add).set(ROW);
      c.get(Y).get(M).get(N).emit(opx.i32Mul).i32(4).emit(opx.i32Mul, opx.i32Add).set(YROW);
      c.loopWhile(
        (x) => x.get(TI).i32(MR).emit(opx.i32Add).get(TEND).emit(opx.i32LeU),
        () => {
          group(MR);
          c.addTo(TI, (x) => x.i32(MR));
          c.addTo(ROW, (x) => x.get(XROW).i32(MR).emit(opx.i32Mul));
          c.addTo(YROW, (x) => x.get(N).i32(4 * MR).emit(opx.i32Mul));
        },
      );
      c.loopWhile(
        (x) => x.get(TI).get(TEND).emit(opx.i32LtU),
        () => {
          group(1);
          c.addTo(TI, (x) => x.i32(1));
          c.addTo(ROW, (x) => x.get(XROW));
          c.addTo(YROW, (x) => x.get(N).i32(4).emit(opx.i32Mul));
        },
      );
      c.get(BI).get(T).emit(opx.i32Mul).get(TEND).emit(opx.i32Add).set(M);
    },
  );
  return { params: Array<number>(12).fill(I32), locals: [[nI32, I32], [2 * MR + 3, V128]], code: c.bytes };
}

/**
 * gradW(a, aBatch, aRow, T, batches, K, d, N, w, s0, s1, k0, k1): for column slabs
 * [s0, s1) (8 columns each) and k ∈ [k0, k1): W[k, n] = Σ_{b, t} A_{b,t}[k] · D[b·T + t, n],
 * summed over b, then t, in order. W [K, N] is overwritten. Byte addresses/strides.
 */
function gradWBody(fma: boolean): { params: number[]; locals: [number, number][]; code: number[] } {
  const [A, ABATCH, AROW, T, BATCHES, , D, N, W, S0, S1, K0, K1] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const [BI, T0, TEND, SL, KT, TT, PA, PY, PW, ROWB, DROWB, FIRST] = [13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24];
  const nI32 = 25 - 13;
  const ACC = 25;
  const Y0 = ACC + 8;
  const Y1 = Y0 + 1;
  const S = Y1 + 1;
  const c = new Code();

  const micro = (kr: number): void => {
    // pw = w + (kt·N + sl·8)·4; rows of W are N·4 bytes apart.
    c.get(W).get(KT).get(N).emit(opx.i32Mul).get(SL).i32(8).emit(opx.i32Mul, opx.i32Add).i32(4).emit(opx.i32Mul, opx.i32Add).set(PW);
    for (let i = 0; i < kr; i++) {
      c.ifElse(
        (x) => x.get(FIRST),
        (x) => {
          x.emit(...f32x4Const([0, 0, 0, 0])).set(ACC + 2 * i);
          x.emit(...f32x4Const([0, 0, 0, 0])).set(ACC + 2 * i + 1);
        },
        (x) => {
          x.get(PW).get(DROWB).i32(i).emit(opx.i32Mul, opx.i32Add).load(0).set(ACC + 2 * i);
          x.get(PW).get(DROWB).i32(i).emit(opx.i32Mul, opx.i32Add).load(16).set(ACC + 2 * i + 1);
        },
      );
    }
    // pa = a + bi·aBatch + t0·aRow + kt·4; py = d + ((bi·T + t0)·N + sl·8)·4
    c.get(A).get(BI).get(ABATCH).emit(opx.i32Mul, opx.i32Add).get(T0).get(AROW).emit(opx.i32Mul, opx.i32Add).get(KT).i32(4).emit(opx.i32Mul, opx.i32Add).set(PA);
    c.get(D).get(BI).get(T).emit(opx.i32Mul).get(T0).emit(opx.i32Add).get(DROWB).emit(opx.i32Mul, opx.i32Add).get(SL).i32(32).emit(opx.i32Mul, opx.i32Add).set(PY);
    c.get(T0).set(TT);
    c.loopWhile(
      (x) => x.get(TT).get(TEND).emit(opx.i32LtU),
      () => {
        c.get(PY).load(0).set(Y0);
        c.get(PY).load(16).set(Y1);
        for (let i = 0; i < kr; i++) {
          c.get(PA).splat(4 * i).set(S);
          madd(c, fma, S, Y0, ACC + 2 * i);
          madd(c, fma, S, Y1, ACC + 2 * i + 1);
        }
        c.addTo(PA, (x) => x.get(AROW));
        c.addTo(PY, (x) => x.get(DROWB));
        c.addTo(TT, (x) => x.i32(1));
      },
    );
    for (let i = 0; i < kr; i++) {
      c.get(PW).get(DROWB).i32(i).emit(opx.i32Mul, opx.i32Add).get(ACC + 2 * i).store(0);
      c.get(PW).get(DROWB).i32(i).emit(opx.i32Mul, opx.i32Add).get(ACC + 2 * i + 1).store(16);
    }
  };

  c.get(N).i32(4).emit(opx.i32Mul).set(DROWB);
  c.i32(0).set(BI);
  c.loopWhile(
    (x) => x.get(BI).get(BATCHES).emit(opx.i32LtU),
    () => {
      c.i32(0).set(T0);
      c.loopWhile(
        (x) => x.get(T0).get(T).emit(opx.i32LtU),
        () => {
          c.minU(TEND, (x) => x.get(T0).i32(MC).emit(opx.i32Add), (x) => x.get(T));
          // first = (bi == 0 && t0 == 0): start the sums at zero rather than at W.
          c.get(BI).get(T0).emit(0x72 /* i32.or */, opx.i32Eqz).set(FIRST);
          c.get(S0).set(SL);
          c.loopWhile(
            (x) => x.get(SL).get(S1).emit(opx.i32LtU),
            () => {
              c.get(K0).set(KT);
              c.loopWhile(
                (x) => x.get(KT).i32(4).emit(opx.i32Add).get(K1).emit(opx.i32LeU),
                () => {
                  micro(4);
                  c.addTo(KT, (x) => x.i32(4));
                },
              );
              c.loopWhile(
                (x) => x.get(KT).get(K1).emit(opx.i32LtU),
                () => {
                  micro(1);
                  c.addTo(KT, (x) => x.i32(1));
                },
              );
              c.addTo(SL, (x) => x.i32(1));
            },
          );
          c.get(TEND).set(T0);
        },
      );
      c.addTo(BI, (x) => x.i32(1));
    },
  );
  return { params: Array<number>(13).fill(I32), locals: [[nI32, I32], [11, V128]], code: c.bytes };
}

/**
 * colSums(x, cols, rows, c0, c1, chunkRows, out): for chunks ch ∈ [c0, c1) of `chunkRows` rows of
 * x [rows, cols] (cols a multiple of 4), out[ch, :] = Σ of the chunk's rows, in row order, in
 * float32. Byte addresses.
 */
function colSumsBody(): { params: number[]; locals: [number, number][]; code: number[] } {
  const [X, COLS, ROWS, C0, C1, CHUNK, OUT] = [0, 1, 2, 3, 4, 5, 6];
  const [CH, R, REND, G, PX, PO, ROWB, PEND] = [7, 8, 9, 10, 11, 12, 13, 14];
  const c = new Code();
  c.get(COLS).i32(4).emit(opx.i32Mul).set(ROWB);
  c.get(C0).set(CH);
  c.loopWhile(
    (x) => x.get(CH).get(C1).emit(opx.i32LtU),
    () => {
      // po = out + ch·cols·4; zero the chunk's sums
      c.get(OUT).get(CH).get(ROWB).emit(opx.i32Mul, opx.i32Add).set(PO);
      c.get(PO).get(ROWB).emit(opx.i32Add).set(PEND);
      c.get(PO).set(G);
      c.loopWhile(
        (x) => x.get(G).get(PEND).emit(opx.i32LtU),
        () => {
          c.get(G).emit(...f32x4Const([0, 0, 0, 0])).store(0);
          c.addTo(G, (x) => x.i32(16));
        },
      );
      c.get(CH).get(CHUNK).emit(opx.i32Mul).set(R);
      c.minU(REND, (x) => x.get(R).get(CHUNK).emit(opx.i32Add), (x) => x.get(ROWS));
      c.get(X).get(R).get(ROWB).emit(opx.i32Mul, opx.i32Add).set(PX);
      c.loopWhile(
        (x) => x.get(R).get(REND).emit(opx.i32LtU),
        () => {
          c.get(PO).set(G);
          c.loopWhile(
            (x) => x.get(G).get(PEND).emit(opx.i32LtU),
            () => {
              c.get(G).get(G).load(0).get(PX).load(0).emit(...simdOp(simd.f32x4Add)).store(0);
              c.addTo(G, (x) => x.i32(16));
              c.addTo(PX, (x) => x.i32(16));
            },
          );
          c.addTo(R, (x) => x.i32(1));
        },
      );
      c.addTo(CH, (x) => x.i32(1));
    },
  );
  return { params: Array<number>(7).fill(I32), locals: [[8, I32]], code: c.bytes };
}

/**
 * local = local where |local| ≥ FLT_MIN (in `tiny`, splat) or local is NaN, else +0: subnormals
 * flushed to zero. With `keepZero`, ±0 is kept as it is (−0 stays −0).
 */
function flushSubnormals(c: Code, local: number, tiny: number, keepZero = false): void {
  c.get(local);
  c.get(local).emit(...simdOp(0xe0 /* f32x4.abs */)).get(tiny).emit(...simdOp(0x46 /* f32x4.ge */));
  c.get(local).get(local).emit(...simdOp(0x42 /* f32x4.ne */), ...simdOp(0x50 /* v128.or */));
  if (keepZero) c.get(local).emit(...f32x4Const([0, 0, 0, 0]), ...simdOp(0x41 /* f32x4.eq */), ...simdOp(0x50 /* v128.or */));
  c.emit(...simdOp(0x4e /* v128.and */)).set(local);
}

/**
 * reluGrad(dy, x, out, i0, i1): out[i] = dy[i] · step(x[i]) for float indices [i0, i1) (a multiple
 * of 4 apart), step(x) = 1 for x > 0, 0 otherwise, NaN for NaN — tfjs's ReLU gradient (a product,
 * so ±∞·0 is NaN as there) — with subnormal results flushed to zero (±0 kept). Byte addresses.
 *
 * Why the flush: the gradients reaching the paper CNN's conv layers turn subnormal as training
 * goes on (at the session-7 model, 1.9 % of the gradient into conv2's output and 8.9 % of that
 * into conv3's, measured), and every convolution product that reads them takes x86's slow
 * microcode path; WebAssembly has no flush-to-zero mode. Native TensorFlow runs its CPU kernels
 * with subnormals flushed (FTZ/DAZ), so this is its arithmetic, not a new approximation.
 */
function reluGradBody(): { params: number[]; locals: [number, number][]; code: number[] } {
  const [DY, X, OUT, I0, I1] = [0, 1, 2, 3, 4];
  const [P, END, XV, R, TINY] = [5, 6, 7, 8, 9];
  const c = new Code();
  c.emit(...f32x4Const([FLT_MIN, FLT_MIN, FLT_MIN, FLT_MIN])).set(TINY);
  c.get(I0).i32(4).emit(opx.i32Mul).set(P);
  c.get(I1).i32(4).emit(opx.i32Mul).set(END);
  c.loopWhile(
    (x) => x.get(P).get(END).emit(opx.i32LtU),
    () => {
      c.get(X).get(P).emit(opx.i32Add).load(0).set(XV);
      // dy · ((1 & (x > 0)) | (x & (x ≠ x)))
      c.get(DY).get(P).emit(opx.i32Add).load(0);
      c.emit(...f32x4Const([1, 1, 1, 1])).get(XV).emit(...f32x4Const([0, 0, 0, 0])).emit(...simdOp(0x44 /* f32x4.gt */));
      c.emit(...simdOp(0x4e /* v128.and */));
      c.get(XV).get(XV).get(XV).emit(...simdOp(0x42 /* f32x4.ne */), ...simdOp(0x4e /* v128.and */));
      c.emit(...simdOp(0x50 /* v128.or */));
      c.emit(...simdOp(simd.f32x4Mul)).set(R);
      flushSubnormals(c, R, TINY, true);
      c.get(OUT).get(P).emit(opx.i32Add).get(R).store(0);
      c.addTo(P, (x) => x.i32(16));
    },
  );
  return { params: Array<number>(5).fill(I32), locals: [[2, I32], [3, V128]], code: c.bytes };
}

/**
 * packB(b, K, N, out, k0, k1): for rows k ∈ [k0, k1) of B [K, N] (row-major), the 8 floats of
 * each column slab j go to out + (j·K + k)·32: the packed layout [N/8][K][8] of {@link gemmBody}.
 */
function packBBody(): { params: number[]; locals: [number, number][]; code: number[] } {
  const [B, K, N, OUT, K0, K1] = [0, 1, 2, 3, 4, 5];
  const [KK, J, SRC, DST, SLAB] = [6, 7, 8, 9, 10];
  const c = new Code();
  // slab stride in the output: K·32 bytes
  c.get(K).i32(NR * 4).emit(opx.i32Mul).set(SLAB);
  c.get(K0).set(KK);
  c.loopWhile(
    (x) => x.get(KK).get(K1).emit(opx.i32LtU),
    () => {
      c.get(B).get(KK).get(N).emit(opx.i32Mul).i32(4).emit(opx.i32Mul, opx.i32Add).set(SRC);
      c.get(OUT).get(KK).i32(NR * 4).emit(opx.i32Mul, opx.i32Add).set(DST);
      c.i32(0).set(J);
      c.loopWhile(
        (x) => x.get(J).get(N).emit(opx.i32LtU),
        () => {
          c.get(DST).get(SRC).load(0).store(0);
          c.get(DST).get(SRC).load(16).store(16);
          c.addTo(SRC, (x) => x.i32(NR * 4));
          c.addTo(DST, (x) => x.get(SLAB));
          c.addTo(J, (x) => x.i32(NR));
        },
      );
      c.addTo(KK, (x) => x.i32(1));
    },
  );
  return { params: Array<number>(6).fill(I32), locals: [[5, I32]], code: c.bytes };
}

// ---- Winograd F(2, 2) over tap pairs, for strided convolutions whose kernel is an even number
// q of strides (the paper's conv2: 128 = 8·16, conv3: 512 = 16·32).
//
// With blocks X_u = x[u·s … u·s + s − 1, :] (s·C floats) and W_j the filter rows of tap block j
// ([s·C, F]), y[t] = Σ_{j<q} X_{t+j} · W_j. Two outputs at a time over tap pairs (2i, 2i + 1):
//   y[2p]     = Σ_i E_{p+i}·U_i + O_{p+i}·S_i,   y[2p + 1] = Σ_i O_{p+i}·S_i + G_{p+i}·V_i,
// with E_v = X_{2v} − X_{2v+1}, O_v = X_{2v+1}, G_v = X_{2v+2} − X_{2v+1}, U_i = W_{2i},
// V_i = W_{2i+1}, S_i = U_i + V_i: three products of half the reduction length for two outputs,
// 3/4 of the multiply-adds. E, O and G are strided-row matrices again (row p starts at block p).
// Finite inputs give the direct sums to float32 rounding; an infinite input gives NaN where the
// direct sum gives ±∞ (∞ − ∞ in E or G), and values near the float32 limit can overflow there.

/**
 * winoInput(x, xBatch, bs, Q, g0, g1, e, o, g): for global block index v' = item·Q + v in
 * [g0, g1): E/O/G block v' (bs bytes at v'·bs) from X_{2v}, X_{2v+1}, X_{2v+2} of the item
 * (x + item·xBatch + 2v·bs). Byte sizes; bs a multiple of 16.
 */
function winoInputBody(): { params: number[]; locals: [number, number][]; code: number[] } {
  const [X, XBATCH, BS, Q, G0, G1, E, O, G] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [V, SRC, DST, OFF, A, B, C] = [9, 10, 11, 12, 13, 14, 15];
  const c = new Code();
  c.get(G0).set(V);
  c.loopWhile(
    (x) => x.get(V).get(G1).emit(opx.i32LtU),
    () => {
      c.get(X).get(V).get(Q).emit(opx.i32DivU).get(XBATCH).emit(opx.i32Mul, opx.i32Add);
      c.get(V).get(Q).emit(opx.i32RemU).get(BS).emit(opx.i32Mul).i32(2).emit(opx.i32Mul, opx.i32Add).set(SRC);
      c.get(V).get(BS).emit(opx.i32Mul).set(DST);
      c.i32(0).set(OFF);
      c.loopWhile(
        (x) => x.get(OFF).get(BS).emit(opx.i32LtU),
        () => {
          c.get(SRC).get(OFF).emit(opx.i32Add).load(0).set(A);
          c.get(SRC).get(OFF).emit(opx.i32Add).get(BS).emit(opx.i32Add).load(0).set(B);
          c.get(SRC).get(OFF).emit(opx.i32Add).get(BS).emit(opx.i32Add).get(BS).emit(opx.i32Add).load(0).set(C);
          c.get(E).get(DST).emit(opx.i32Add).get(OFF).emit(opx.i32Add).get(A).get(B).emit(...simdOp(simd.f32x4Sub)).store(0);
          c.get(O).get(DST).emit(opx.i32Add).get(OFF).emit(opx.i32Add).get(B).store(0);
          c.get(G).get(DST).emit(opx.i32Add).get(OFF).emit(opx.i32Add).get(C).get(B).emit(...simdOp(simd.f32x4Sub)).store(0);
          c.addTo(OFF, (x) => x.i32(16));
        },
      );
      c.addTo(V, (x) => x.i32(1));
    },
  );
  return { params: Array<number>(9).fill(I32), locals: [[4, I32], [3, V128]], code: c.bytes };
}

/**
 * winoOutput(m1, m2, m3, y, P, F, yBatch, g0, g1, bias, flags, pStep, odd): for global pair
 * index p' = item·P + p in [g0, g1): the "even" row at y + item·yBatch + p·pStep gets
 * act(m1 + m2 + bias), the "odd" row `odd` bytes after it act(m2 + m3 + bias), from the products'
 * rows p' (F floats each; F a multiple of 8). With {@link ACCUMULATE} in `flags` the sums are
 * added to the rows' values first. Forward: pStep = 2·F·4, odd = F·4 (output positions 2p, 2p + 1).
 */
function winoOutputBody(): { params: number[]; locals: [number, number][]; code: number[] } {
  const [M1, M2, M3, Y, P, F, YBATCH, G0, G1, BIAS, FLAGS, PSTEP, ODD] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const [GP, MO, YE, NS, ROWB] = [13, 14, 15, 16, 17];
  const [A0, A1, R0, R1] = [18, 19, 20, 21];
  const c = new Code();
  c.get(F).i32(4).emit(opx.i32Mul).set(ROWB);
  c.get(G0).set(GP);
  c.loopWhile(
    (x) => x.get(GP).get(G1).emit(opx.i32LtU),
    () => {
      c.get(GP).get(ROWB).emit(opx.i32Mul).set(MO);
      // ye = y + item·yBatch + p·pStep
      c.get(Y).get(GP).get(P).emit(opx.i32DivU).get(YBATCH).emit(opx.i32Mul, opx.i32Add);
      c.get(GP).get(P).emit(opx.i32RemU).get(PSTEP).emit(opx.i32Mul, opx.i32Add).set(YE);
      c.i32(0).set(NS);
      c.loopWhile(
        (x) => x.get(NS).get(F).emit(opx.i32LtU),
        () => {
          const at = (base: number, off: number): void => {
            c.get(base).get(MO).emit(opx.i32Add).get(NS).i32(4).emit(opx.i32Mul, opx.i32Add).load(off);
          };
          at(M2, 0);
          c.set(A0);
          at(M2, 16);
          c.set(A1);
          for (const [m, rowOff] of [[M1, 0], [M3, 1]] as const) {
            const yAddr = (): void => {
              c.get(YE).get(NS).i32(4).emit(opx.i32Mul, opx.i32Add);
              if (rowOff) c.get(ODD).emit(opx.i32Add);
            };
            at(m, 0);
            c.get(A0).emit(...simdOp(simd.f32x4Add)).set(R0);
            at(m, 16);
            c.get(A1).emit(...simdOp(simd.f32x4Add)).set(R1);
            c.ifElse(
              (x) => x.get(FLAGS).i32(ACCUMULATE).emit(opx.i32And),
              (x) => {
                yAddr();
                x.load(0).get(R0).emit(...simdOp(simd.f32x4Add)).set(R0);
                yAddr();
                x.load(16).get(R1).emit(...simdOp(simd.f32x4Add)).set(R1);
              },
              () => undefined,
            );
            epilogue(c, BIAS, FLAGS, NS, R0, R1);
            yAddr();
            c.get(R0).store(0);
            yAddr();
            c.get(R1).store(16);
          }
          c.addTo(NS, (x) => x.i32(NR));
        },
      );
      c.addTo(GP, (x) => x.i32(1));
    },
  );
  return { params: Array<number>(13).fill(I32), locals: [[5, I32], [4, V128]], code: c.bytes };
}

/**
 * winoDy(dy, P, T, F, g0, g1, de, ds, do): for global pair index p' = item·P + p in [g0, g1),
 * with rows r0 = dy row (item, 2p) and r1 = row (item, 2p + 1) (F floats, T rows per item):
 * de[p'] = r0, ds[p'] = r0 + r1, do[p'] = r1. The filter gradient's "weights" of the Winograd form.
 */
function winoDyBody(): { params: number[]; locals: [number, number][]; code: number[] } {
  const [DY, P, T, F, G0, G1, DE, DS, DO] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [GP, SRC, DST, OFF, ROWB] = [9, 10, 11, 12, 13];
  const [A, B] = [14, 15];
  const c = new Code();
  c.get(F).i32(4).emit(opx.i32Mul).set(ROWB);
  c.get(G0).set(GP);
  c.loopWhile(
    (x) => x.get(GP).get(G1).emit(opx.i32LtU),
    () => {
      // src = dy + (item·T + 2p)·F·4
      c.get(DY).get(GP).get(P).emit(opx.i32DivU).get(T).emit(opx.i32Mul).get(GP).get(P).emit(opx.i32RemU).i32(2).emit(opx.i32Mul, opx.i32Add);
      c.get(ROWB).emit(opx.i32Mul, opx.i32Add).set(SRC);
      c.get(GP).get(ROWB).emit(opx.i32Mul).set(DST);
      c.i32(0).set(OFF);
      c.loopWhile(
        (x) => x.get(OFF).get(ROWB).emit(opx.i32LtU),
        () => {
          c.get(SRC).get(OFF).emit(opx.i32Add).load(0).set(A);
          c.get(SRC).get(OFF).emit(opx.i32Add).get(ROWB).emit(opx.i32Add).load(0).set(B);
          c.get(DE).get(DST).emit(opx.i32Add).get(OFF).emit(opx.i32Add).get(A).store(0);
          c.get(DO).get(DST).emit(opx.i32Add).get(OFF).emit(opx.i32Add).get(B).store(0);
          c.get(DS).get(DST).emit(opx.i32Add).get(OFF).emit(opx.i32Add).get(A).get(B).emit(...simdOp(simd.f32x4Add)).store(0);
          c.addTo(OFF, (x) => x.i32(16));
        },
      );
      c.addTo(GP, (x) => x.i32(1));
    },
  );
  return { params: Array<number>(9).fill(I32), locals: [[5, I32], [2, V128]], code: c.bytes };
}

/**
 * winoPackB(w, bs, half, F, u, s, v, k0, k1): for rows k' ∈ [k0, k1) of U, S, V ([half·bs, F],
 * k' = i·bs + r): U[k'] = W[2i·bs + r], V[k'] = W[(2i + 1)·bs + r], S = U + V, written packed
 * ([F/8][half·bs][8], as {@link packBBody}). W [q·bs, F] row-major; bs in floats; addresses bytes.
 */
function winoPackBBody(): { params: number[]; locals: [number, number][]; code: number[] } {
  const [W, BS, HALF, F, U, S, V, K0, K1] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [KK, NS, SE, SO, DST, KTOT] = [9, 10, 11, 12, 13, 14];
  const [UA, UB, VA, VB] = [15, 16, 17, 18];
  const c = new Code();
  c.get(HALF).get(BS).emit(opx.i32Mul).set(KTOT);
  c.get(K0).set(KK);
  c.loopWhile(
    (x) => x.get(KK).get(K1).emit(opx.i32LtU),
    () => {
      // even row = 2·(k'/bs)·bs + k'%bs = k' + (k'/bs)·bs; odd = even + bs
      c.get(W).get(KK).get(KK).get(BS).emit(opx.i32DivU).get(BS).emit(opx.i32Mul, opx.i32Add).get(F).emit(opx.i32Mul).i32(4).emit(opx.i32Mul, opx.i32Add).set(SE);
      c.get(SE).get(BS).get(F).emit(opx.i32Mul).i32(4).emit(opx.i32Mul, opx.i32Add).set(SO);
      c.i32(0).set(NS);
      c.loopWhile(
        (x) => x.get(NS).get(F).emit(opx.i32LtU),
        () => {
          c.get(NS).i32(NR).emit(opx.i32DivU).get(KTOT).emit(opx.i32Mul).get(KK).emit(opx.i32Add).i32(NR * 4).emit(opx.i32Mul).set(DST);
          c.get(SE).get(NS).i32(4).emit(opx.i32Mul, opx.i32Add).load(0).set(UA);
          c.get(SE).get(NS).i32(4).emit(opx.i32Mul, opx.i32Add).load(16).set(UB);
          c.get(SO).get(NS).i32(4).emit(opx.i32Mul, opx.i32Add).load(0).set(VA);
          c.get(SO).get(NS).i32(4).emit(opx.i32Mul, opx.i32Add).load(16).set(VB);
          c.get(U).get(DST).emit(opx.i32Add).get(UA).store(0);
          c.get(U).get(DST).emit(opx.i32Add).get(UB).store(16);
          c.get(V).get(DST).emit(opx.i32Add).get(VA).store(0);
          c.get(V).get(DST).emit(opx.i32Add).get(VB).store(16);
          c.get(S).get(DST).emit(opx.i32Add).get(UA).get(VA).emit(...simdOp(simd.f32x4Add)).store(0);
          c.get(S).get(DST).emit(opx.i32Add).get(UB).get(VB).emit(...simdOp(simd.f32x4Add)).store(16);
          c.addTo(NS, (x) => x.i32(NR));
        },
      );
      c.addTo(KK, (x) => x.i32(1));
    },
  );
  return { params: Array<number>(9).fill(I32), locals: [[6, I32], [4, V128]], code: c.bytes };
}

/** Smallest normal float32. */
const FLT_MIN = 1.1754943508222875e-38;
/**
 * Weights below this magnitude (2^-100 ≈ 7.9e-31) are set to zero by the Adamax step: their
 * products with any activation or gradient above 1.5e-8 would still be subnormal-free, and their
 * contribution to any sum of normal-sized terms is 20+ orders of magnitude below float32's
 * resolution. See `adamaxBody`: L2 decay parks dead units' weights just above the subnormal range.
 */
const WEIGHT_FLUSH = 2 ** -100;

/**
 * adamax(m, u, w, g, k, outM, outU, outW, i0, i1): one Adamax step over float indices [i0, i1)
 * (a multiple of 4 apart), with the constants k = [β1, 1 − β1, β2, ε, c] (c = −lr / (1 − β1ᵗ)):
 * m' = m·β1 + g·(1 − β1); u' = max(u·β2, |g|); w' = c·(m' / (u' + ε)) + w — tfjs's
 * AdamaxOptimizer's operations in its order, each rounded to float32 (no fused multiply-add) —
 * then m' and u' below the smallest normal float32 (1.2e-38) and w' below {@link WEIGHT_FLUSH}
 * (7.9e-31) set to zero (NaN kept); a subnormal gradient g counts as zero.
 *
 * Why the flush: WebAssembly has no flush-to-zero mode, and on x86 every operation on a subnormal
 * operand or result takes a slow microcode path. L2 decay and the geometric decay of the moments
 * of unused weights drive them into that range: after 20 epochs of the paper CNN 57 % of its
 * weights were subnormal and a training step took 2.2–4.9 s instead of 0.8 s (measured). Native
 * TensorFlow flushes subnormals on CPU for the same reason. Flushing only subnormal weights is not
 * enough: the dead units' weights then sit just above the range (at the session-8 model 80 % of
 * the first Dense kernel and 61 % of conv3's between 1e-37 and 1e-35, counted), their products
 * (the L2 term 0.02·w, w·activation, w·gradient) are subnormal, and a step took 806 ms instead of
 * 660 (the Dense input gradient 57 ms instead of 6, this step 32 instead of 5; measured).
 */
function adamaxBody(): { params: number[]; locals: [number, number][]; code: number[] } {
  const [M, U, W, G, K, OM, OU, OW, I0, I1] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [P, END] = [10, 11];
  const [B1, OMB1, B2, EPS, CC, GV, MN, UN, TINY, WN, WTINY] = [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22];
  const c = new Code();
  for (const [i, local] of [B1, OMB1, B2, EPS, CC].entries()) c.get(K).splat(4 * i).set(local);
  c.emit(...f32x4Const([FLT_MIN, FLT_MIN, FLT_MIN, FLT_MIN])).set(TINY);
  c.emit(...f32x4Const([WEIGHT_FLUSH, WEIGHT_FLUSH, WEIGHT_FLUSH, WEIGHT_FLUSH])).set(WTINY);
  const flush = (local: number): void => flushSubnormals(c, local, TINY);
  c.get(I0).i32(4).emit(opx.i32Mul).set(P);
  c.get(I1).i32(4).emit(opx.i32Mul).set(END);
  const at = (base: number): void => {
    c.get(base).get(P).emit(opx.i32Add);
  };
  c.loopWhile(
    (x) => x.get(P).get(END).emit(opx.i32LtU),
    () => {
      at(G);
      c.load(0).set(GV);
      flush(GV);
      // m' = m·β1 + g·(1 − β1)
      at(M);
      c.load(0).get(B1).emit(...simdOp(simd.f32x4Mul)).get(GV).get(OMB1).emit(...simdOp(simd.f32x4Mul), ...simdOp(simd.f32x4Add)).set(MN);
      // u' = max(u·β2, |g|)
      at(U);
      c.load(0).get(B2).emit(...simdOp(simd.f32x4Mul)).get(GV).emit(...simdOp(0xe0 /* f32x4.abs */), ...simdOp(0xe9 /* f32x4.max */)).set(UN);
      flush(MN);
      flush(UN);
      at(OM);
      c.get(MN).store(0);
      at(OU);
      c.get(UN).store(0);
      // w' = c·(m' / (u' + ε)) + w
      c.get(CC).get(MN).get(UN).get(EPS).emit(...simdOp(simd.f32x4Add), ...simdOp(0xe7 /* f32x4.div */), ...simdOp(simd.f32x4Mul));
      at(W);
      c.load(0).emit(...simdOp(simd.f32x4Add)).set(WN);
      flushSubnormals(c, WN, WTINY);
      at(OW);
      c.get(WN).store(0);
      c.addTo(P, (x) => x.i32(16));
    },
  );
  return { params: Array<number>(10).fill(I32), locals: [[2, I32], [11, V128]], code: c.bytes };
}

/** Maximum size of the engine's memory: 4 GiB (wasm32's limit), reserved, not committed. */
const MAX_PAGES = 65536;

/** The module: imports a shared memory `env.memory`, exports its kernels by name (see the `*Body` functions). */
export function gemmModuleBytes(fma: boolean): Uint8Array {
  const bodies: Record<KernelName, { params: number[]; locals: [number, number][]; code: number[] }> = {
    gemm: gemmBody(fma, true),
    gradW: gradWBody(fma),
    gemmRowMajor: gemmBody(fma, false),
    colSums: colSumsBody(),
    reluGrad: reluGradBody(),
    adamax: adamaxBody(),
    convDirect: convDirectBody(fma),
    packB: packBBody(),
    winoInput: winoInputBody(),
    winoOutput: winoOutputBody(),
    winoPackB: winoPackBBody(),
    winoDy: winoDyBody(),
  };
  return assembleModule(KERNELS.map((name) => ({ ...bodies[name], exportName: name })), 1, { maxPages: MAX_PAGES });
}

/** The module's kernels; a job names one by its index here. */
const KERNELS = ['gemm', 'gradW', 'gemmRowMajor', 'colSums', 'reluGrad', 'adamax', 'convDirect', 'packB', 'winoInput', 'winoOutput', 'winoPackB', 'winoDy'] as const;
type KernelName = (typeof KERNELS)[number];
const fnId = (name: KernelName): number => KERNELS.indexOf(name);

/** Whether this V8 accepts relaxed SIMD, enabling it first on V8 versions that keep it behind a flag. */
export function relaxedSimdAvailable(): boolean {
  // One relaxed_madd, stored to memory.
  const code = [op.i32Const, ...sleb(0), ...f32x4Const([1, 1, 1, 1]), ...f32x4Const([1, 1, 1, 1]), ...f32x4Const([1, 1, 1, 1])];
  code.push(...simdOp(f32x4RelaxedMadd), ...simdOp(simd.v128Store, [4, 0]));
  const probe = assembleModule([{ params: [], locals: [], code, exportName: 'probe' }], 1);
  if (wasmJs().validate(probe)) return true;
  // Node 20 (V8 11.3) ships relaxed SIMD behind this flag; V8 ≥ 11.4 has it on by default. Wasm
  // feature flags are read when a module is compiled, so setting it now is enough.
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return wasmJs().validate(probe);
}

// ----------------------------------------------------------------------------------------------
// Threads: one module instance per thread over one shared memory; the caller's thread computes
// its share too and then blocks (Atomics.wait) until the workers are done. The kernels are
// synchronous, as tfjs kernels must be.

/** Control block at the start of the memory (Int32 slots). */
const CTRL_GEN = 0;
const CTRL_DONE = 1;
const CTRL_ERROR = 2;
/** Set to 1 to stop the workers. */
const CTRL_STOP = 3;
/** Workers that have instantiated the module and are waiting for jobs. */
const CTRL_READY = 4;
/** How long the caller waits for its workers (start-up, or one job) before giving up. */
const WORKER_TIMEOUT_MS = 120_000;
/** Per-thread job: function id + up to 15 args, from slot 16 on, 16 slots per thread. */
const CTRL_JOBS = 16;
const JOB_SLOTS = 16;
/** Bytes reserved for the control block; buffers start after it. */
export const CTRL_BYTES = 4096;
/** At most this many threads (control block size). */
export const MAX_GEMM_THREADS = (CTRL_BYTES / 4 - CTRL_JOBS) / JOB_SLOTS;

const WORKER_SOURCE = String.raw`
'use strict';
const { workerData } = require('worker_threads');
const { memory, module, index, ctrlOffset, kernels } = workerData;
const inst = new WebAssembly.Instance(module, { env: { memory } });
const fns = kernels.map((name) => inst.exports[name]);
let gen = Atomics.load(new Int32Array(memory.buffer, ctrlOffset, 1024), 0);
Atomics.add(new Int32Array(memory.buffer, ctrlOffset, 1024), 4, 1);
Atomics.notify(new Int32Array(memory.buffer, ctrlOffset, 1024), 4);
for (;;) {
  // A fresh view each time: the memory may have grown (growing a shared memory keeps its start).
  const ctrl = new Int32Array(memory.buffer, ctrlOffset, 1024);
  // The generation only ever changes (it may wrap around): wait while it is the one last served.
  Atomics.wait(ctrl, 0, gen);
  if (Atomics.load(ctrl, 3) !== 0) break;
  gen = Atomics.load(ctrl, 0);
  const base = 16 + 16 * index;
  const fn = ctrl[base];
  const args = Array.from(ctrl.subarray(base + 1, base + 16));
  try {
    if (fn >= 0) fns[fn](...args);
  } catch (e) {
    Atomics.store(ctrl, 2, 1);
  }
  Atomics.add(ctrl, 1, 1);
  Atomics.notify(ctrl, 1);
}
`;

/** An engine on someone else's shared memory (tfjs's heap): no copies in or out. */
export interface ExternalMemory {
  /** A shared `WebAssembly.Memory` with maximum 65,536 pages. */
  readonly memory: SharedMemory;
  /** Byte offset of 4,096 bytes reserved for the engine's thread control. */
  readonly controlBlock: number;
}

/** Floats of scratch {@link GemmEngine.colSums} needs. */
export function colSumsScratchLength(rows: number, cols: number): number {
  return Math.ceil(rows / SUM_CHUNK_ROWS) * cols;
}

/**
 * What follows a product, per output column n: `+ bias[n]` (float offset of N floats; `null`:
 * none), then `max(·, 0)` with `relu`.
 */
export interface Epilogue {
  readonly bias: number | null;
  readonly relu: boolean;
}

const NO_EPILOGUE: Epilogue = { bias: null, relu: false };

function epilogueArgs(e: Epilogue): [number, number] {
  if (e.bias === 0) throw new Error('GemmEngine: a bias at offset 0 is taken for none');
  return [e.bias === null ? 0 : 4 * e.bias, e.relu ? EPILOGUE_RELU : 0];
}

/** Where {@link GemmEngine.convWinograd} keeps its intermediate arrays (float offsets from `base`). */
function winogradLayout(bs: number, q: number, t: number, batches: number, f: number, base: number) {
  const pairs = Math.floor(t / 2);
  const blocks = pairs + q / 2 - 1;
  const kHalf = (q / 2) * bs;
  const sizes = { e: batches * blocks * bs, o: batches * blocks * bs, g: batches * blocks * bs, m1: batches * pairs * f, m2: batches * pairs * f, m3: batches * pairs * f, u: kHalf * f, s: kHalf * f, v: kHalf * f, packed: t % 2 === 1 ? q * bs * f : 0 };
  const at: Record<string, number> = {};
  let p = base;
  for (const [k, n] of Object.entries(sizes)) {
    at[k] = p;
    p += Math.ceil(n / 16) * 16; // 64-byte aligned
  }
  return { pairs, blocks, length: p - base, ...(at as Record<keyof typeof sizes, number>) };
}

/** Where {@link GemmEngine.gradWWinograd} keeps its intermediate arrays (float offsets from `base`). */
function winogradGradLayout(bs: number, q: number, t: number, batches: number, f: number, base: number) {
  const pairs = Math.floor(t / 2);
  const blocks = pairs + q / 2 - 1;
  const kHalf = (q / 2) * bs;
  const sizes = { e: batches * blocks * bs, o: batches * blocks * bs, g: batches * blocks * bs, de: batches * pairs * f, ds: batches * pairs * f, do: batches * pairs * f, m1: kHalf * f, m2: kHalf * f, m3: kHalf * f, last: batches * f };
  const at: Record<string, number> = {};
  let p = base;
  for (const [k, n] of Object.entries(sizes)) {
    at[k] = p;
    p += Math.ceil(n / 16) * 16;
  }
  return { pairs, blocks, length: p - base, ...(at as Record<keyof typeof sizes, number>) };
}

/** Floats of scratch {@link GemmEngine.gradWWinograd} needs. */
export function winogradGradScratchLength(bs: number, q: number, t: number, batches: number, f: number): number {
  return winogradGradLayout(bs, q, t, batches, f, 0).length;
}

/** Floats of scratch {@link GemmEngine.convWinograd} needs. */
export function winogradScratchLength(bs: number, q: number, t: number, batches: number, f: number): number {
  return winogradLayout(bs, q, t, batches, f, 0).length;
}

/** What one thread computes: a kernel and its arguments, or nothing (`null`). */
type Job = { readonly fn: number; readonly args: readonly number[] } | null;

/** Memory, module instance and worker threads of the GEMM kernels. */
export class GemmEngine {
  readonly threads: number;
  readonly fma: boolean;
  private readonly memory: SharedMemory;
  private readonly fns: ReadonlyArray<(...a: number[]) => void>;
  private readonly workers: Worker[] = [];
  private top = CTRL_BYTES;
  /** Whether the memory is someone else's (then {@link alloc} is not available). */
  readonly external: boolean;
  /** Byte offset of the control block. */
  private readonly ctrlOffset: number;

  /**
   * @param threads threads computing (the caller's included), 1 … {@link MAX_GEMM_THREADS}
   * @param fma use relaxed SIMD's multiply-add if this V8 has it (default: yes)
   */
  constructor(threads: number, fma = true, external?: ExternalMemory) {
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_GEMM_THREADS) {
      throw new Error(`GemmEngine: threads must be an integer in 1…${MAX_GEMM_THREADS}, got ${threads}`);
    }
    this.threads = threads;
    this.fma = fma && relaxedSimdAvailable();
    this.external = external !== undefined;
    this.memory = external?.memory ?? new (wasmJs().Memory)({ initial: 16, maximum: MAX_PAGES, shared: true });
    this.ctrlOffset = external?.controlBlock ?? 0;
    if (this.ctrlOffset % 4 !== 0) throw new Error('GemmEngine: the control block must be 4-byte aligned');
    new Int32Array(this.memory.buffer, this.ctrlOffset, CTRL_BYTES / 4).fill(0);
    const module = new (wasmJs().Module)(gemmModuleBytes(this.fma));
    const exports = new (wasmJs().Instance)(module, { env: { memory: this.memory } }).exports as Record<string, (...a: number[]) => void>;
    this.fns = KERNELS.map((name) => exports[name] as (...a: number[]) => void);
    for (let i = 1; i < threads; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory: this.memory, module, index: i, ctrlOffset: this.ctrlOffset, kernels: KERNELS } });
      // Idle workers block in Atomics.wait and must not keep the process alive.
      w.unref();
      this.workers.push(w);
    }
    // Wait (synchronously: kernels are synchronous) until every worker is listening, so that a
    // worker that cannot start is an error here rather than a hang at the first job.
    const ctrl = this.control();
    const deadline = Date.now() + WORKER_TIMEOUT_MS;
    for (let ready = Atomics.load(ctrl, CTRL_READY); ready < threads - 1; ready = Atomics.load(ctrl, CTRL_READY)) {
      if (Date.now() > deadline) {
        void this.dispose();
        throw new Error(`GemmEngine: ${threads - 1 - ready} of ${threads - 1} worker threads did not start`);
      }
      Atomics.wait(ctrl, CTRL_READY, ready, 100);
    }
  }

  private disposed = false;

  private control(): Int32Array {
    return new Int32Array(this.memory.buffer, this.ctrlOffset, CTRL_BYTES / 4);
  }

  /** Frees every buffer handed out by {@link alloc}. */
  reset(): void {
    this.top = CTRL_BYTES;
  }

  /** A zero-copy float32 view of a fresh buffer of `length` floats (valid until {@link reset} or growth). */
  alloc(length: number): { readonly ptr: number; view(): Float32Array } {
    if (this.external) throw new Error('GemmEngine.alloc: the engine runs on an external memory; allocate there');
    const ptr = this.top;
    const bytes = Math.ceil((length * 4) / 64) * 64;
    const end = ptr + bytes;
    if (end > MAX_PAGES * 65536 - 1) throw new Error(`GemmEngine: ${end} bytes exceed wasm32 memory`);
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / 65536));
    this.top = end;
    return { ptr, view: () => new Float32Array(this.memory.buffer, ptr, length) };
  }

  /** A float32 view of `length` floats at float offset `ptr` of the engine's memory. */
  view(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, 4 * ptr, length);
  }

  /** Runs one job per thread (job i on thread i; thread 0 is the caller) and waits for all. */
  /** Kernel runs so far (for tests that must know the engine, not a fallback, did the work). */
  get runs(): number {
    return this.runCount;
  }

  private runCount = 0;

  private run(jobs: readonly Job[]): void {
    if (this.disposed) throw new Error('GemmEngine: used after dispose()');
    // A job's arguments fill the slots after its function id; more would spill into the next thread's.
    if (jobs.some((j) => j !== null && j.args.length > JOB_SLOTS - 1)) throw new Error('GemmEngine: a job has more arguments than its control slots hold');
    this.runCount++;
    const ctrl = this.control();
    for (let i = 1; i < this.threads; i++) {
      const job = jobs[i] ?? null;
      const base = CTRL_JOBS + JOB_SLOTS * i;
      ctrl[base] = job === null ? -1 : job.fn;
      if (job !== null) job.args.forEach((v, j) => (ctrl[base + 1 + j] = v));
    }
    Atomics.store(ctrl, CTRL_DONE, 0);
    Atomics.store(ctrl, CTRL_ERROR, 0);
    if (this.threads > 1) {
      Atomics.store(ctrl, CTRL_GEN, (Atomics.load(ctrl, CTRL_GEN) + 1) | 0);
      Atomics.notify(ctrl, CTRL_GEN);
    }
    let error: unknown = null;
    const own = jobs[0] ?? null;
    try {
      if (own !== null) (this.fns[own.fn] as (...a: number[]) => void)(...own.args);
    } catch (e) {
      error = e;
    }
    const want = this.threads - 1;
    const deadline = Date.now() + WORKER_TIMEOUT_MS;
    for (;;) {
      const done = Atomics.load(ctrl, CTRL_DONE);
      if (done >= want) break;
      if (Date.now() > deadline) {
        // A worker died (its 'exit' event cannot be delivered while this thread blocks).
        this.disposed = true;
        throw new Error(`GemmEngine: ${want - done} worker thread(s) did not answer within ${WORKER_TIMEOUT_MS / 1000} s`);
      }
      Atomics.wait(ctrl, CTRL_DONE, done, 1000);
    }
    if (error !== null) throw error;
    if (Atomics.load(ctrl, CTRL_ERROR) !== 0) throw new Error('GemmEngine: a worker thread failed (out-of-bounds access?)');
  }

  /**
   * C[m, :] = A_m · B for m ∈ [0, batches·T), A_m = a + b·aBatch + t·aRow (float offsets, K floats),
   * B [K, N] packed by {@link packB} or row-major; C row (b, t) at c + b·cBatch + t·N (default:
   * C [batches·T, N] contiguous). N must be a multiple of {@link NR}.
   */
  gemm(
    a: number, aBatch: number, aRow: number, t: number, batches: number, k: number, b: number, n: number, c: number,
    bLayout: 'packed' | 'row-major' = 'packed', cBatch = t * n, epilogue: Epilogue = NO_EPILOGUE,
  ): void {
    if (n % NR !== 0) throw new Error(`GemmEngine.gemm: N = ${n} is not a multiple of ${NR}`);
    const [slabStride, ldb] = bLayout === 'packed' ? [k * NR * 4, NR * 4] : [NR * 4, n * 4];
    const epi = epilogueArgs(epilogue);
    this.run(
      this.rowJobs(batches * t, (m0, m1) => ({
        fn: fnId(bLayout === 'packed' ? 'gemm' : 'gemmRowMajor'),
        args: [4 * a, 4 * aBatch, 4 * aRow, t, m0, m1, k, 4 * b, n, 4 * c, slabStride, ldb, 4 * cBatch, ...epi],
      })),
    );
  }

  /**
   * The forward product of a convolution with a short reduction (K floats per row, e.g. a first
   * layer's kernel · channels = 5): C[m, :] = act(A_m · B + bias) for m ∈ [0, batches·T), A_m as in
   * {@link gemm}, B [K, N] packed by {@link packB}, C [batches·T, N] contiguous. Same sums as
   * {@link gemm} (k in increasing order), without its blocking.
   */
  convDirect(a: number, aBatch: number, aRow: number, t: number, batches: number, k: number, b: number, n: number, c: number, epilogue: Epilogue = NO_EPILOGUE): void {
    if (n % NR !== 0) throw new Error(`GemmEngine.convDirect: N = ${n} is not a multiple of ${NR}`);
    const epi = epilogueArgs(epilogue);
    this.run(this.rowJobs(batches * t, (m0, m1) => ({ fn: fnId('convDirect'), args: [4 * a, 4 * aBatch, 4 * aRow, t, m0, m1, k, 4 * b, n, 4 * c, ...epi] })));
  }

  /**
   * C [M, N] = act(A [M, K] · B [K, N] + bias), all row-major and contiguous (float offsets). With
   * few rows (a Dense layer's batch) the threads split the columns, so that each reads only its
   * part of B (a Dense layer's weights, megabytes, read once per product); otherwise the rows.
   */
  matmul(a: number, m: number, k: number, b: number, n: number, c: number, epilogue: Epilogue = NO_EPILOGUE): void {
    if (n % NR !== 0) throw new Error(`GemmEngine.matmul: N = ${n} is not a multiple of ${NR}`);
    const slabs = n / NR;
    if (m > MC || slabs < 2 * this.threads) {
      this.gemm(a, 0, k, m, 1, k, b, n, c, 'row-major', m * n, epilogue);
      return;
    }
    const jobs: Job[] = [];
    for (let i = 0; i < this.threads; i++) {
      const n0 = NR * Math.floor((slabs * i) / this.threads);
      const n1 = NR * Math.floor((slabs * (i + 1)) / this.threads);
      const [bias, flags] = epilogueArgs(epilogue);
      // One "batch" per row (T = 1): row m of A at a + m·K, of C at c + m·N, whatever the columns.
      jobs.push({ fn: fnId('gemmRowMajor'), args: [4 * a, 4 * k, 0, 1, 0, m, k, 4 * (b + n0), n1 - n0, 4 * (c + n0), NR * 4, 4 * n, 4 * n, bias === 0 ? 0 : bias + 4 * n0, flags] });
    }
    this.run(jobs);
  }

  /**
   * Packs B [K, N] (row-major, float offset `b`) as [N/8][K][8] at `out` (K·N floats, not
   * overlapping `b`): the layout {@link gemm} and {@link convDirect} read. Same result as the
   * function {@link packB}, on the engine's threads.
   */
  packB(b: number, k: number, n: number, out: number): void {
    if (n % NR !== 0) throw new Error(`GemmEngine.packB: N = ${n} is not a multiple of ${NR}`);
    const jobs: Job[] = [];
    for (let i = 0; i < this.threads; i++) {
      const k0 = Math.floor((k * i) / this.threads);
      const k1 = Math.floor((k * (i + 1)) / this.threads);
      jobs.push(k1 > k0 ? { fn: fnId('packB'), args: [4 * b, k, n, 4 * out, k0, k1] } : null);
    }
    this.run(jobs);
  }

  /**
   * The forward product of a strided 1-D convolution whose kernel is an even number q of strides,
   * by Winograd F(2, 2) over tap pairs (see `winoInputBody`): 3/4 of the multiply-adds of
   * {@link gemm}, results equal to rounding (the sums are regrouped). y [batches, T, F] =
   * act(conv(x, w) + bias); x rows of `bs` = stride·C floats per stride step, items `xBatch`
   * floats apart; w [q·bs, F] row-major (tfjs's filter layout). `scratch`: float offset of
   * {@link winogradScratchLength} floats; y items `yBatch` floats apart (default T·F). bs a
   * multiple of 4, F of 8.
   */
  convWinograd(x: number, xBatch: number, bs: number, q: number, t: number, batches: number, w: number, f: number, y: number, scratch: number, epilogue: Epilogue = NO_EPILOGUE, yBatch = t * f): void {
    if (f % NR !== 0 || bs % 4 !== 0 || q % 2 !== 0 || t < 2) throw new Error(`GemmEngine.convWinograd: unsupported shape (bs ${bs}, q ${q}, T ${t}, F ${f})`);
    const lay = winogradLayout(bs, q, t, batches, f, scratch);
    const half = q / 2;
    const kHalf = half * bs;
    const split = this.split.bind(this);
    split(kHalf, 'winoPackB', (k0, k1) => [4 * w, bs, half, f, 4 * lay.u, 4 * lay.s, 4 * lay.v, k0, k1]);
    split(batches * lay.blocks, 'winoInput', (g0, g1) => [4 * x, 4 * xBatch, 4 * bs, lay.blocks, g0, g1, 4 * lay.e, 4 * lay.o, 4 * lay.g]);
    const itemStride = lay.blocks * bs;
    this.gemm(lay.e, itemStride, bs, lay.pairs, batches, kHalf, lay.u, f, lay.m1);
    this.gemm(lay.o, itemStride, bs, lay.pairs, batches, kHalf, lay.s, f, lay.m2);
    this.gemm(lay.g, itemStride, bs, lay.pairs, batches, kHalf, lay.v, f, lay.m3);
    const [bias, flags] = epilogueArgs(epilogue);
    split(batches * lay.pairs, 'winoOutput', (g0, g1) => [4 * lay.m1, 4 * lay.m2, 4 * lay.m3, 4 * y, lay.pairs, f, 4 * yBatch, g0, g1, bias, flags, 8 * f, 4 * f]);
    if (t % 2 === 1) {
      // The last output of each item, directly.
      this.packB(w, q * bs, f, lay.packed);
      this.gemm(x + (t - 1) * bs, xBatch, 0, 1, batches, q * bs, lay.packed, f, y + (t - 1) * f, 'packed', yBatch, epilogue);
    }
  }

  /**
   * The filter gradient of the convolution {@link convWinograd} computes, in the same Winograd
   * form over tap pairs (3/4 of the multiply-adds of {@link gradW}): dW [q·bs, F] =
   * Σ_{b,t} x-patch(b, t) ⊗ dy[b, t, :], dy [batches·T, F] contiguous, dW overwritten. Scratch:
   * {@link winogradGradScratchLength} floats.
   */
  gradWWinograd(x: number, xBatch: number, bs: number, q: number, t: number, batches: number, dy: number, f: number, dw: number, scratch: number): void {
    if (f % NR !== 0 || bs % 4 !== 0 || q % 2 !== 0 || t < 2) throw new Error(`GemmEngine.gradWWinograd: unsupported shape (bs ${bs}, q ${q}, T ${t}, F ${f})`);
    const lay = winogradGradLayout(bs, q, t, batches, f, scratch);
    const half = q / 2;
    const kHalf = half * bs;
    const rows = batches * lay.pairs;
    this.split(batches * lay.blocks, 'winoInput', (g0, g1) => [4 * x, 4 * xBatch, 4 * bs, lay.blocks, g0, g1, 4 * lay.e, 4 * lay.o, 4 * lay.g]);
    this.split(rows, 'winoDy', (g0, g1) => [4 * dy, lay.pairs, t, f, g0, g1, 4 * lay.de, 4 * lay.ds, 4 * lay.do]);
    const itemStride = lay.blocks * bs;
    // Row p of E/O/G (blocks p … p + q/2 − 1) pairs with dY rows 2p, 2p + 1; T' = P rows per item.
    this.gradW(lay.e, itemStride, bs, lay.pairs, batches, kHalf, lay.de, f, lay.m1);
    this.gradW(lay.o, itemStride, bs, lay.pairs, batches, kHalf, lay.ds, f, lay.m2);
    this.gradW(lay.g, itemStride, bs, lay.pairs, batches, kHalf, lay.do, f, lay.m3);
    let flags = 0;
    if (t % 2 === 1) {
      // The last position of each item: its own outer products, summed over the items into dW,
      // to which the pairs' sums are then added.
      const last = this.view(lay.last, batches * f);
      for (let b = 0; b < batches; b++) last.set(this.view(dy + (b * t + t - 1) * f, f), b * f);
      this.gradW(x + (t - 1) * bs, xBatch, 0, 1, batches, q * bs, lay.last, f, dw);
      flags = ACCUMULATE;
    }
    // dW rows 2i·bs + r and (2i + 1)·bs + r from rows i·bs + r of m1, m2, m3: "items" i of bs "pairs".
    this.split(kHalf, 'winoOutput', (g0, g1) => [4 * lay.m1, 4 * lay.m2, 4 * lay.m3, 4 * dw, bs, f, 8 * bs * f, g0, g1, 0, flags, 4 * f, 4 * bs * f]);
  }

  private split(count: number, fn: KernelName, args: (g0: number, g1: number) => number[]): void {
    const jobs: Job[] = [];
    for (let i = 0; i < this.threads; i++) {
      const g0 = Math.floor((count * i) / this.threads);
      const g1 = Math.floor((count * (i + 1)) / this.threads);
      jobs.push(g1 > g0 ? { fn: fnId(fn), args: args(g0, g1) } : null);
    }
    this.run(jobs);
  }

  /** Rows [0, m) split between the threads in whole groups of {@link MR}. */
  private rowJobs(m: number, job: (m0: number, m1: number) => NonNullable<Job>): Job[] {
    const jobs: Job[] = [];
    const blocks = Math.ceil(m / MR);
    for (let i = 0; i < this.threads; i++) {
      const m0 = Math.min(m, Math.floor((blocks * i) / this.threads) * MR);
      const m1 = Math.min(m, Math.floor((blocks * (i + 1)) / this.threads) * MR);
      jobs.push(m1 > m0 ? job(m0, m1) : null);
    }
    return jobs;
  }

  /**
   * W[k, n] = Σ_{b,t} A_{b,t}[k] · D[b·T + t, n]: W [K, N] overwritten; D [batches·T, N]; float
   * offsets as in {@link gemm}. N must be a multiple of {@link NR}.
   */
  gradW(a: number, aBatch: number, aRow: number, t: number, batches: number, k: number, d: number, n: number, w: number): void {
    if (n % NR !== 0) throw new Error(`GemmEngine.gradW: N = ${n} is not a multiple of ${NR}`);
    const slabs = n / NR;
    const jobs: Job[] = [];
    const args = (s0: number, s1: number, k0: number, k1: number): Job => ({
      fn: fnId('gradW'),
      args: [4 * a, 4 * aBatch, 4 * aRow, t, batches, k, 4 * d, n, 4 * w, s0, s1, k0, k1],
    });
    const tiles = Math.floor(k / 4);
    if (tiles >= 16 * this.threads) {
      // Split the rows of W (in whole tiles of 4; the last thread takes the remainder).
      for (let i = 0; i < this.threads; i++) {
        const k0 = Math.floor((tiles * i) / this.threads) * 4;
        const k1 = i === this.threads - 1 ? k : Math.floor((tiles * (i + 1)) / this.threads) * 4;
        jobs.push(args(0, slabs, k0, k1));
      }
    } else {
      for (let i = 0; i < this.threads; i++) {
        const s0 = Math.floor((slabs * i) / this.threads);
        const s1 = Math.floor((slabs * (i + 1)) / this.threads);
        jobs.push(s1 > s0 ? args(s0, s1, 0, k) : null);
      }
    }
    this.run(jobs);
  }

  /**
   * Column sums of x [rows, cols] (float offset; cols a multiple of 4) into `out` (float64, length
   * cols): float32 sums over fixed chunks of {@link SUM_CHUNK_ROWS} rows, split between the threads,
   * then the chunks' sums added in order in float64, so the result does not depend on the threads.
   * `scratch` (float offset, {@link colSumsScratchLength} floats) is required on an external memory.
   */
  colSums(x: number, rows: number, cols: number, out: Float64Array, scratch?: number): void {
    if (cols % 4 !== 0) throw new Error(`GemmEngine.colSums: ${cols} columns is not a multiple of 4`);
    const chunks = Math.ceil(rows / SUM_CHUNK_ROWS);
    const length = chunks * cols;
    const partial =
      scratch === undefined ? this.alloc(length) : { ptr: 4 * scratch, view: (): Float32Array => this.view(scratch, length) };
    const jobs: Job[] = [];
    for (let i = 0; i < this.threads; i++) {
      const c0 = Math.floor((chunks * i) / this.threads);
      const c1 = Math.floor((chunks * (i + 1)) / this.threads);
      jobs.push(c1 > c0 ? { fn: fnId('colSums'), args: [4 * x, cols, rows, c0, c1, SUM_CHUNK_ROWS, partial.ptr] } : null);
    }
    this.run(jobs);
    const p = partial.view();
    out.fill(0);
    for (let ch = 0; ch < chunks; ch++) for (let c = 0; c < cols; c++) out[c] = (out[c] as number) + (p[ch * cols + c] as number);
  }

  /**
   * out = dy · step(x) elementwise over `length` floats (float offsets), subnormal results flushed to
   * zero, split between the threads in blocks of 4; the last `length % 4` here in JavaScript. See
   * the kernel for the exact semantics and why the flush.
   */
  reluGrad(dy: number, x: number, out: number, length: number): void {
    const quads = Math.floor(length / 4);
    const jobs: Job[] = [];
    for (let i = 0; i < this.threads; i++) {
      const q0 = Math.floor((quads * i) / this.threads);
      const q1 = Math.floor((quads * (i + 1)) / this.threads);
      jobs.push(q1 > q0 ? { fn: fnId('reluGrad'), args: [4 * dy, 4 * x, 4 * out, 4 * q0, 4 * q1] } : null);
    }
    this.run(jobs);
    const d = this.view(dy, length);
    const xv = this.view(x, length);
    const o = this.view(out, length);
    for (let i = 4 * quads; i < length; i++) {
      const v = xv[i] as number;
      const r = Math.fround((d[i] as number) * (v > 0 ? 1 : Number.isNaN(v) ? NaN : 0));
      o[i] = r !== 0 && Math.abs(r) < FLT_MIN ? 0 : r;
    }
  }

  /**
   * One Adamax step over `length` floats (see the kernel): m, u, w, g and the outputs are float
   * offsets; `constants` is a float offset of [β1, 1 − β1, β2, ε, c] as float32. The last
   * `length % 4` values are done here in JavaScript with the same float32 roundings.
   */
  adamax(m: number, u: number, w: number, g: number, constants: number, outM: number, outU: number, outW: number, length: number): void {
    const quads = Math.floor(length / 4);
    const jobs: Job[] = [];
    for (let i = 0; i < this.threads; i++) {
      const q0 = Math.floor((quads * i) / this.threads);
      const q1 = Math.floor((quads * (i + 1)) / this.threads);
      jobs.push(q1 > q0 ? { fn: fnId('adamax'), args: [m, u, w, g, constants, outM, outU, outW, 4 * q0, 4 * q1].map((v, j) => (j < 8 ? 4 * v : v)) } : null);
    }
    this.run(jobs);
    const [b1, omb1, b2, eps, cc] = this.view(constants, 5) as unknown as number[] as [number, number, number, number, number];
    const f = Math.fround;
    const [mv, uv, wv, gv, om, ou, ow] = [m, u, w, g, outM, outU, outW].map((p) => this.view(p, length)) as Float32Array[] as [
      Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array,
    ];
    const flushBelow = (v: number, tiny: number): number => (Math.abs(v) >= tiny || Number.isNaN(v) ? v : 0);
    for (let i = 4 * quads; i < length; i++) {
      const gi = flushBelow(gv[i] as number, FLT_MIN);
      const mn = flushBelow(f(f((mv[i] as number) * b1) + f(gi * omb1)), FLT_MIN);
      const un = flushBelow(Math.max(f((uv[i] as number) * b2), Math.abs(gi)), FLT_MIN);
      om[i] = mn;
      ou[i] = un;
      ow[i] = flushBelow(f(f(cc * f(mn / f(un + eps))) + (wv[i] as number)), WEIGHT_FLUSH);
    }
  }

  /** Stops the worker threads. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const ctrl = this.control();
    Atomics.store(ctrl, CTRL_STOP, 1);
    Atomics.store(ctrl, CTRL_GEN, (Atomics.load(ctrl, CTRL_GEN) + 1) | 0);
    Atomics.notify(ctrl, CTRL_GEN);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Packs B [K, N] (row-major) as [N/8][K][8] into `out` (length K·N), the layout of {@link GemmEngine.gemm}.
 */
export function packB(b: Float32Array, k: number, n: number, out: Float32Array): void {
  for (let s = 0; s < n / NR; s++) {
    const base = s * k * NR;
    for (let kk = 0; kk < k; kk++) {
      const src = kk * n + s * NR;
      const dst = base + kk * NR;
      for (let j = 0; j < NR; j++) out[dst + j] = b[src + j] as number;
    }
  }
}

/**
 * Packs Bᵀ for B = aᵀ, a [M, K] row-major, as [M/8][K][8] into `out` (length K·M): the packed
 * layout of the product with a transposed right operand.
 */
export function packBTransposed(a: Float32Array, m: number, k: number, out: Float32Array): void {
  for (let s = 0; s < m / NR; s++) {
    for (let j = 0; j < NR; j++) {
      const src = (s * NR + j) * k;
      const dst = s * k * NR + j;
      for (let kk = 0; kk < k; kk++) out[dst + kk * NR] = a[src + kk] as number;
    }
  }
}
