/**
 * Training kernels that tfjs-backend-wasm 4.22.0 lacks or runs slowly, registered at start-up.
 *
 * - `Conv2DBackpropFilter`: missing on wasm. Composed from wasm's forward `Conv2D` (XNNPACK):
 *   dW[i,j,c,f] = Σ_{n,y,x} X[n, y·sh+i, x·sw+j, c] · dY[n,y,x,f] is a stride-1 convolution of X
 *   transposed to [C, H, W, N] with dY transposed to [OH, OW, N, F] as the filter, dilated by the
 *   stride.
 * - `Conv2DBackpropInput`: wasm's own is a scalar loop. For 1-D convolutions (height 1) it is
 *   recast as one stride-1 forward convolution over dY with the filter taps grouped by stride
 *   phase (see {@link conv1dBackpropInput}); other shapes fall through to wasm's kernel.
 * - `BatchMatMul` with `transposeA`/`transposeB` (Dense backprop): wasm's transposed product is
 *   5–14× slower than its plain one; we transpose first, then multiply plainly.
 * - ReLU's gradient: one fused kernel instead of Step, Cast and Multiply; an Adamax step per
 *   variable in one pass (`FmmAdamaxStep`, used by `SaveableAdamax`). Both flush subnormal
 *   results to zero, as native TensorFlow's CPU kernels do (x86 runs subnormals 100× slower).
 * - `_FusedMatMul`: wasm's is wrong with a transposed operand or a bias of rank > 1 (see its
 *   registration below); the plain product with a per-column bias and ReLU runs on the engine,
 *   bias and ReLU in its last pass.
 * - `FusedConv2D` (inference, `infer.ts`): 1-D convolutions on the engine with bias and ReLU in
 *   the last pass; a short reduction (a first layer's K·C = 5) on its direct kernel.
 * - `Sum` over leading axes (bias gradients: [N, T, C] summed to [C]): wasm transposes, then
 *   reduces (≈ 80 ms for the paper's first layer); one pass over the heap in JS takes ≈ 15 ms.
 *
 * - 1-D convolutions (dilation 1, valid padding, filters a multiple of 8) forward, filter gradient
 *   and input gradient run on the project's own SIMD matrix products ({@link GemmEngine}, with
 *   relaxed SIMD's fused multiply-add where V8 has it, on the backend's thread count): XNNPACK
 *   is ≈ 80 % of SIMD128 peak forward but 25–60 % in the gradients composed above, and SIMD128
 *   has no multiply-add. Kernels of an even number of strides (the paper's conv2 and conv3) run
 *   all three in a Winograd form over tap pairs (`GemmEngine.convWinograd`, `gradWWinograd`):
 *   3/4 of the multiply-adds. Other shapes keep the XNNPACK paths above.
 *
 * Kernels are written against kernel functions, not ops, as tfjs's own composite kernels are:
 * nothing here touches the engine's tape or tensor count, and every intermediate is disposed.
 */
import * as tf from '@tensorflow/tfjs';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { colSumsScratchLength, CTRL_BYTES, GemmEngine, NR, packBTransposed, type SharedMemory, winogradGradScratchLength, winogradScratchLength } from './wasm-gemm.ts';
import { tfjsSharedWasmMemory } from './wasm-threads.ts';

/** The tfjs version these kernels and the thread workarounds were written and tested for. */
export const SUPPORTED_TFJS_VERSION = '4.22.0';

/**
 * Throws a clear error if the installed tfjs-core or tfjs-backend-wasm is not the version the
 * kernels and workarounds in `src/model/` were written for: they rely on kernel attribute layouts
 * and on internals of the wasm bundle that tfjs does not promise to keep.
 */
export function assertTfjsVersion(
  found: Readonly<Record<string, string>> = {
    '@tensorflow/tfjs-core': tf.version_core,
    '@tensorflow/tfjs-backend-wasm': tfwasm.version_wasm,
  },
): void {
  for (const [pkg, version] of Object.entries(found)) {
    if (version !== SUPPORTED_TFJS_VERSION) {
      throw new Error(
        `fmmatch: ${pkg} is ${version}, but src/model/wasm-kernels.ts and wasm-threads.ts were written for ` +
          `${SUPPORTED_TFJS_VERSION}. Pin ${SUPPORTED_TFJS_VERSION} in package.json, or re-check the kernels ` +
          `(npm test) and the thread shim against the new version and update SUPPORTED_TFJS_VERSION.`,
      );
    }
  }
}

type Info = tf.TensorInfo;
type Shape4 = [number, number, number, number];

/**
 * Runs wasm kernels by name from inside a kernel function, tracking intermediates so they can be
 * released together. Kernels are looked up in `originals` first, so that a kernel we replaced can
 * still call the implementation it replaced.
 */
class KernelRunner {
  private readonly temps: Info[] = [];

  constructor(
    private readonly backend: tf.KernelBackend,
    private readonly originals: ReadonlyMap<string, tf.KernelConfig>,
  ) {}

  run(kernelName: string, inputs: Record<string, Info>, attrs: tf.NamedAttrMap = {}): Info {
    const config = this.originals.get(kernelName) ?? tf.getKernel(kernelName, 'wasm');
    if (config === undefined) throw new Error(`wasm kernel ${kernelName} is not registered`);
    const out = config.kernelFunc({ inputs, backend: this.backend, attrs });
    if (Array.isArray(out)) throw new Error(`wasm kernel ${kernelName}: expected one output`);
    this.temps.push(out);
    return out;
  }

  reshape(x: Info, shape: number[]): Info {
    return this.run(tf.Reshape, { x }, { shape });
  }

  transpose(x: Info, perm: number[]): Info {
    return this.run(tf.Transpose, { x }, { perm });
  }

  pad(x: Info, paddings: Array<[number, number]>): Info {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.run(tf.PadV2, { x }, { paddings, constantValue: 0 });
  }

  slice(x: Info, begin: number[], size: number[]): Info {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return x;
    return this.run(tf.Slice, { x }, { begin, size });
  }

  concat(xs: Info[], axis: number): Info {
    // Concat takes its inputs as an array, not a named map.
    return this.run(tf.Concat, xs as unknown as Record<string, Info>, { axis });
  }

  matMul(a: Info, b: Info): Info {
    return this.run(tf.BatchMatMul, { a, b }, { transposeA: false, transposeB: false });
  }

  /** Forward NHWC convolution, valid padding. */
  conv2d(x: Info, filter: Info, strides: [number, number], dilations: [number, number]): Info {
    return this.run(tf.Conv2D, { x, filter }, { strides, dilations, pad: 'valid', dataFormat: 'NHWC' });
  }

  /** Disposes every intermediate except `keep`, which is returned. */
  finish(keep: Info): Info {
    for (const t of this.temps) if (t !== keep) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
    return keep;
  }

  /** Disposes every intermediate (error path). */
  abandon(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

function pair(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

function assertNhwc(kernel: string, dataFormat: string): void {
  if (dataFormat !== 'NHWC') throw new Error(`fmmatch wasm ${kernel}: only NHWC is supported, got ${dataFormat}`);
}

/**
 * dW for a 2-D NHWC convolution with dilation 1, shapes x [N, H, W, C], dy [N, OH, OW, F],
 * result [KH, KW, C, F]. See the module comment for the identity used.
 */
function conv2dBackpropFilter(r: KernelRunner, x: Info, dy: Info, attrs: tf.Conv2DBackpropFilterAttrs): Info {
  assertNhwc('Conv2DBackpropFilter', attrs.dataFormat);
  const [kh, kw, c, f] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
  );
  const { top, bottom, left, right } = info.padInfo;
  const xPad = r.pad(x, [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]]);
  const [n, , ow] = dy.shape as Shape4;
  if (kh === 1 && x.shape[1] === 1 && n * ow * kw * c <= IM2COL_MAX_ELEMENTS) {
    return conv1dBackpropFilterIm2col(r, xPad, dy, kw, info.strideWidth);
  }
  const xT = r.transpose(xPad, [3, 1, 2, 0]); // [C, Hp, Wp, N]
  const dyT = r.transpose(dy, [1, 2, 0, 3]); // [OH, OW, N, F]
  const g = r.conv2d(xT, dyT, [1, 1], [info.strideHeight, info.strideWidth]); // [C, ≥KH, ≥KW, F]
  const gK = r.slice(g, [0, 0, 0, 0], [c, kh, kw, f]);
  return r.transpose(gK, [1, 2, 0, 3]);
}

/**
 * Largest patch matrix (elements) for which {@link conv1dBackpropFilterIm2col} is used. The
 * convolution form above is slow when C·KH·KW is small (e.g. the paper's first layer, C = 1, K = 5:
 * a GEMM with 6 rows and a 10⁶-long reduction); an explicit patch matrix is then small.
 */
const IM2COL_MAX_ELEMENTS = 1 << 23;

/**
 * dW of a 1-D convolution by an explicit patch matrix: xPad [N, 1, Wp, C] (already padded),
 * dy [N, 1, OW, F], stride s; result [1, K, C, F]. Viewing xPad as phases [N, Q, s·C]
 * (Q = OW + M − 1, M = ⌈K/s⌉), tap t = m·s + r of output y reads phase row y + m. With the phases
 * transposed to [s·C, N, Q], tap group m is one slice along the last axis, so the transposed
 * patch matrix [M·s·C, N·OW] is M slices stacked, and dW one plain product with dY [N·OW, F].
 * (wasm's Slice and Concat copy row by row in JavaScript: keeping rows long keeps them fast.)
 */
function conv1dBackpropFilterIm2col(r: KernelRunner, xPad: Info, dy: Info, k: number, s: number): Info {
  const [n, , wp, c] = xPad.shape as Shape4;
  const [, , ow, f] = dy.shape as Shape4;
  const m = Math.ceil(k / s);
  const q = ow + m - 1;
  const fitted = q * s >= wp ? r.pad(xPad, [[0, 0], [0, 0], [0, q * s - wp], [0, 0]]) : r.slice(xPad, [0, 0, 0, 0], [n, 1, q * s, c]);
  const phasesT = r.transpose(r.reshape(fitted, [n, q, s * c]), [2, 0, 1]); // [s·C, N, Q]
  const groups: Info[] = [];
  for (let i = 0; i < m; i++) groups.push(r.reshape(r.slice(phasesT, [0, 0, i], [s * c, n, ow]), [s * c, n * ow]));
  const patchesT = m === 1 ? (groups[0] as Info) : r.concat(groups, 0); // [M·s·C, N·OW]
  const g = r.matMul(patchesT, r.reshape(dy, [n * ow, f])); // [M·s·C, F]
  return r.reshape(r.slice(g, [0, 0], [k * c, f]), [1, k, c, f]);
}

/**
 * dX for a 1-D convolution (NHWC with H = 1, KH = 1), dy [N, 1, OW, F], filter [1, K, C, F],
 * result [N, 1, W, C].
 *
 * With padded input position p = q·s + r (0 ≤ r < s), the taps that reach p are t = m·s + r, from
 * output q − m: dXpad[q·s + r, c] = Σ_m Σ_f dY[q − m, f] · W[m·s + r, c, f]. For all r at once this is
 * one stride-1 correlation of dY (padded by M − 1 = ⌈K/s⌉ − 1 each side) with the filter
 * G[m', f, r·C + c] = W[(M − 1 − m')·s + r, c, f], whose output [N, 1, OW + M − 1, s·C] reshapes to
 * the padded input gradient [N, 1, (OW + M − 1)·s, C].
 */
function conv1dBackpropInput(r: KernelRunner, dy: Info, filter: Info, attrs: tf.Conv2DBackpropInputAttrs): Info {
  const [n, , w, c] = attrs.inputShape;
  const [, k, , f] = filter.shape as Shape4;
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as Shape4, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast',
  );
  const s = info.strideWidth;
  const ow = dy.shape[2] as number;
  const m = Math.ceil(k / s);
  const filterPadded = r.pad(filter, [[0, 0], [0, m * s - k], [0, 0], [0, 0]]); // [1, M·s, C, F]
  const taps = r.reshape(filterPadded, [m, s, c, f]);
  const flipped = r.run(tf.Reverse, { x: taps }, { dims: [0] });
  const grouped = r.transpose(flipped, [0, 3, 1, 2]); // [M, F, s, C]
  const g = r.reshape(grouped, [1, m, f, s * c]);
  const dyPad = r.pad(dy, [[0, 0], [0, 0], [m - 1, m - 1], [0, 0]]);
  const out = r.conv2d(dyPad, g, [1, 1], [1, 1]); // [N, 1, OW + M − 1, s·C]
  const covered = (ow + m - 1) * s;
  const dxPad = r.reshape(out, [n, 1, covered, c]);
  const left = info.padInfo.left;
  // Inputs beyond the last window get no gradient: extend with zeros if the windows stop short.
  const extended = r.pad(dxPad, [[0, 0], [0, 0], [0, Math.max(0, left + w - covered)], [0, 0]]);
  return r.slice(extended, [0, 0, left, 0], [n, 1, w, c]);
}

/** BatchMatMul with a transposed operand: transpose (wasm Transpose), then the plain product. */
function batchMatMulTransposed(r: KernelRunner, a: Info, b: Info, attrs: tf.BatchMatMulAttrs): Info {
  const swapLast = (t: Info): Info => {
    const rank = t.shape.length;
    const perm = [...Array(rank).keys()];
    [perm[rank - 2], perm[rank - 1]] = [rank - 1, rank - 2];
    return r.transpose(t, perm);
  };
  const a2 = attrs.transposeA ? swapLast(a) : a;
  const b2 = attrs.transposeB ? swapLast(b) : b;
  return r.run(tf.BatchMatMul, { a: a2, b: b2 }, { transposeA: false, transposeB: false });
}

/** Below this many summed rows wasm's own Sum is as fast. */
const SUM_LEADING_MIN_ROWS = 4096;

/** The parts of BackendWasm used by {@link sumLeadingAxes} (tfjs does not export its type). */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(t: Info): Float32Array;
}

/**
 * Σ over the leading `k` axes of float32 x, read in place from the wasm heap, accumulated in
 * float64 column by column. One pass over memory; no transpose (wasm's Sum transposes the summed
 * axes last first) and no XNNPACK operator (whose weight packing would copy x again).
 */
function sumLeadingAxes(backend: WasmHeapBackend, x: Info, k: number, keepDims: boolean): Info {
  const rows = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  const trailing = x.shape.slice(k);
  const cols = trailing.reduce((a, b) => a * b, 1);
  const acc = new Float64Array(cols);
  const xs = backend.typedArrayFromHeap(x);
  // On the engine's threads, in SIMD (the paper CNN's first bias gradient: 46 -> ≈ 10 ms). One or
  // two columns (a BatchNormalization's sums) are summed as four and folded.
  const lanes = cols % 4 === 0 ? cols : (cols === 1 || cols === 2) && xs.length % 4 === 0 ? 4 : 0;
  if (lanes > 0) {
    const laneSums = new Float64Array(lanes);
    onEngine(backend as HeapBackend, (call) => {
      const xp = call.input(x);
      const scratch = call.temp(colSumsScratchLength(xs.length / lanes, lanes));
      call.e.colSums(xp, xs.length / lanes, lanes, laneSums, scratch.ptr);
    });
    for (let i = 0; i < lanes; i++) acc[i % cols] = (acc[i % cols] as number) + (laneSums[i] as number);
  } else {
    for (let r = 0, o = 0; r < rows; r++, o += cols) {
      for (let c = 0; c < cols; c++) acc[c] = (acc[c] as number) + (xs[o + c] as number);
    }
  }
  const out = backend.makeOutput(keepDims ? [...Array<number>(k).fill(1), ...trailing] : trailing, 'float32');
  // Views of the heap must be taken after makeOutput: allocation may grow (and move) the heap.
  backend.typedArrayFromHeap(out).set(acc);
  return out;
}

/** The parts of BackendWasm the engine kernels use (tfjs does not export its type). */
interface HeapBackend extends WasmHeapBackend {
  readonly dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  readonly wasm: { _malloc(bytes: number): number; readonly HEAP32: Int32Array };
  disposeData(dataId: object): boolean;
}

let engine: GemmEngine | null = null;
let engineMemory: unknown = null;

/**
 * The GEMM engine, started on first use with the wasm backend's thread count. With threads, the
 * engine runs on tfjs's own (shared) heap, reading inputs and writing outputs in place; on one
 * thread tfjs's heap is not shared, and the engine copies through a memory of its own.
 */
function gemmEngine(backend: HeapBackend): GemmEngine {
  const threads = Math.max(1, tfwasm.getThreadsCount());
  const memory = threads > 1 ? tfjsSharedWasmMemory() : null;
  if (engine === null || engineMemory !== memory || engine.threads !== threads) {
    void engine?.dispose();
    let external: { memory: SharedMemory; controlBlock: number } | undefined;
    if (memory !== null) {
      // Only if the captured memory is this backend's heap: a value written through one must be
      // read back through the other (else, e.g. after a re-initialised backend, keep our own).
      const controlBlock = backend.wasm._malloc(CTRL_BYTES) >>> 0;
      const probe = new Int32Array((memory as SharedMemory).buffer, controlBlock, 1);
      probe[0] = 0x464d4d31;
      if (backend.wasm.HEAP32[controlBlock / 4] === 0x464d4d31) external = { memory: memory as SharedMemory, controlBlock };
    }
    engine = new GemmEngine(threads, true, external);
    engineMemory = memory;
  }
  return engine;
}

/**
 * How much the GEMM engine has done in this process: kernel runs, and whether it works in place on
 * tfjs's heap. Null before its first use. For tests and diagnostics.
 */
export function wasmEngineStats(): { readonly runs: number; readonly inPlace: boolean; readonly threads: number } | null {
  return engine === null ? null : { runs: engine.runs, inPlace: engine.external, threads: engine.threads };
}

/**
 * One engine computation: where its inputs, scratch and outputs live. On tfjs's heap these are the
 * tensors themselves and temporary tensors; otherwise copies in the engine's own memory, copied
 * back by {@link copyOut}. Pointers are float offsets into the engine's memory.
 */
class EngineCall {
  readonly e: GemmEngine;
  private readonly temps: Info[] = [];
  private readonly outputs: Info[] = [];
  private readonly copies: Array<() => void> = [];

  constructor(private readonly backend: HeapBackend) {
    this.e = gemmEngine(backend);
    if (!this.e.external) this.e.reset();
  }

  private offsetOf(t: Info): number {
    const data = this.backend.dataIdMap.get(t.dataId);
    if (data === undefined) throw new Error('fmmatch wasm engine: tensor data not found on the wasm heap');
    return data.memoryOffset / 4;
  }

  /** Where `t` (float32) can be read. */
  input(t: Info): number {
    if (this.e.external) return this.offsetOf(t);
    const b = this.e.alloc(tf.util.sizeFromShape(t.shape));
    b.view().set(this.backend.typedArrayFromHeap(t));
    return b.ptr / 4;
  }

  /** Scratch for `length` floats; `view()` is valid until the next allocation. */
  temp(length: number): { readonly ptr: number; view(): Float32Array } {
    if (!this.e.external) {
      const b = this.e.alloc(length);
      return { ptr: b.ptr / 4, view: () => b.view() };
    }
    const t = this.backend.makeOutput([length], 'float32');
    this.temps.push(t);
    const ptr = this.offsetOf(t);
    return { ptr, view: () => this.e.view(ptr, length) };
  }

  /** A new float32 tensor and where the engine writes it. */
  output(shape: number[]): { readonly info: Info; readonly ptr: number; view(): Float32Array } {
    const length = tf.util.sizeFromShape(shape);
    const info = this.backend.makeOutput(shape, 'float32');
    this.outputs.push(info);
    if (this.e.external) {
      const ptr = this.offsetOf(info);
      return { info, ptr, view: () => this.e.view(ptr, length) };
    }
    const b = this.e.alloc(length);
    this.copies.push(() => this.backend.typedArrayFromHeap(info).set(b.view()));
    return { info, ptr: b.ptr / 4, view: () => b.view() };
  }

  /** Copies the outputs into their tensors (own memory only). */
  copyOut(): void {
    for (const copy of this.copies) copy();
  }

  /** Releases the temporary tensors (and, after a failure, the outputs). */
  dispose(failed: boolean): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    if (failed) for (const t of this.outputs) this.backend.disposeData(t.dataId);
  }
}

/** Runs `body` on an {@link EngineCall}, copying its outputs out on success, releasing scratch always. */
function onEngine<T>(backend: HeapBackend, body: (call: EngineCall) => T): T {
  const call = new EngineCall(backend);
  let failed = true;
  try {
    const out = body(call);
    call.copyOut();
    failed = false;
    return out;
  } finally {
    call.dispose(failed);
  }
}

/** Below this many multiply-adds, or output positions (batch × length), a convolution stays on XNNPACK. */
const ENGINE_MIN_CONV_MACS = 1 << 20;
const ENGINE_MIN_CONV_ROWS = 256;

/**
 * Below this many multiply-adds per output position (K·C), XNNPACK's direct forward and input
 * gradient kernels are as fast. (The filter gradient has no such limit: for the paper's first
 * layer, K·C = 5, the engine takes 8 ms where the composed XNNPACK path takes 80.)
 */
const ENGINE_MIN_REDUCTION = 64;

/** Geometry of a 1-D (height-1) NHWC convolution the engine can run, or null. */
interface Conv1dGeometry {
  readonly n: number;
  readonly w: number;
  readonly c: number;
  readonly k: number;
  readonly f: number;
  readonly s: number;
  readonly ow: number;
}

function engineConv1d(
  xShape: readonly number[], filterShape: readonly number[], strides: number | [number, number], pad: tf.Conv2DAttrs['pad'],
  dilations: number | [number, number], dimRoundingMode: tf.Conv2DAttrs['dimRoundingMode'], dataFormat: string,
  minReduction: number,
): Conv1dGeometry | null {
  if (dataFormat !== 'NHWC' || xShape[1] !== 1 || filterShape[0] !== 1) return null;
  const [dh, dw] = pair(dilations);
  if (dh !== 1 || dw !== 1) return null;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as Shape4, filterShape as Shape4, strides, 1, pad, dimRoundingMode, false, 'channelsLast',
  );
  const { top, bottom, left, right } = info.padInfo;
  if (top !== 0 || bottom !== 0 || left !== 0 || right !== 0 || info.strideHeight !== 1) return null;
  const [n, , w, c] = xShape as Shape4;
  const [, k, , f] = filterShape as Shape4;
  if (f % NR !== 0 || k * c < minReduction) return null;
  // The windows must lie inside the input: tfjs 4.22 sizes a numeric pad with a rounding mode from
  // the filter's height and stride (an output of 1,027 for 255 windows), and the engine trusts it.
  if ((info.outWidth - 1) * info.strideWidth + k > w) return null;
  // Small convolutions (a streaming TCN's 32 ms blocks) stay on XNNPACK, which keeps its packed
  // weights between calls; the engine packs them in JavaScript on every call (≈ 150 multiply-adds'
  // time per weight), which pays off only over enough output rows.
  if (n * info.outWidth < ENGINE_MIN_CONV_ROWS || n * info.outWidth * k * c * f < ENGINE_MIN_CONV_MACS) return null;
  return { n, w, c, k, f, s: info.strideWidth, ow: info.outWidth };
}

/**
 * The number of tap blocks q = K/s when the convolution's forward pass and filter gradient can run
 * in the engine's Winograd form (K an even number of strides, stride·C a multiple of 4, at least two
 * output positions), else null.
 */
function winogradTaps(g: Conv1dGeometry): number | null {
  const q = g.k / g.s;
  return Number.isInteger(q) && q % 2 === 0 && (g.s * g.c) % 4 === 0 && g.ow >= 2 ? q : null;
}

/**
 * Forward: y[b, t, :] = act(x[b, t·s … t·s + K − 1, :] (flattened, K·C) · W [K·C, F] + bias), with
 * the blocked product, or with `direct` the short-reduction kernel (see `GemmEngine.convDirect`).
 */
function engineConv2d(
  backend: HeapBackend, x: Info, filter: Info, g: Conv1dGeometry,
  fused: { readonly bias?: Info | undefined; readonly relu: boolean; readonly direct: boolean } = { relu: false, direct: false },
): Info {
  return onEngine(backend, (call) => {
    const kc = g.k * g.c;
    const xp = call.input(x);
    const biasPtr = fused.bias === undefined ? null : call.input(fused.bias);
    const y = call.output([g.n, 1, g.ow, g.f]);
    const epilogue = { bias: biasPtr, relu: fused.relu };
    const bs = g.s * g.c;
    const q = fused.direct ? null : winogradTaps(g);
    if (q !== null) {
      // A kernel of an even number of strides (the paper's conv2 and conv3): Winograd over tap
      // pairs, 3/4 of the multiply-adds (measured on the engine alone, batch 32, medians of 15:
      // conv2 107 → 94 ms, conv3 40 → 36 ms; the three products run less efficiently than the one).
      const scratch = call.temp(winogradScratchLength(bs, q, g.ow, g.n, g.f));
      call.e.convWinograd(xp, g.w * g.c, bs, q, g.ow, g.n, call.input(filter), g.f, y.ptr, scratch.ptr, epilogue);
      return y.info;
    }
    const bp = call.temp(kc * g.f);
    call.e.packB(call.input(filter), kc, g.f, bp.ptr);
    if (fused.direct) call.e.convDirect(xp, g.w * g.c, g.s * g.c, g.ow, g.n, kc, bp.ptr, g.f, y.ptr, epilogue);
    else call.e.gemm(xp, g.w * g.c, g.s * g.c, g.ow, g.n, kc, bp.ptr, g.f, y.ptr, 'packed', g.ow * g.f, epilogue);
    return y.info;
  });
}

/** Filter gradient: dW [K·C, F] = Σ_{b,t} x-patch(b, t) ⊗ dy[b, t, :]. */
function engineBackpropFilter(backend: HeapBackend, x: Info, dy: Info, g: Conv1dGeometry): Info {
  return onEngine(backend, (call) => {
    const kc = g.k * g.c;
    const xp = call.input(x);
    const dp = call.input(dy);
    const dw = call.output([1, g.k, g.c, g.f]);
    const bs = g.s * g.c;
    const q = winogradTaps(g);
    if (q !== null) {
      // The Winograd form of the forward pass's (see engineConv2d): 3/4 of the multiply-adds
      // (measured, batch 32, medians of 11: conv2 121 → 103 ms, conv3 50 → 47).
      const scratch = call.temp(winogradGradScratchLength(bs, q, g.ow, g.n, g.f));
      call.e.gradWWinograd(xp, g.w * g.c, bs, q, g.ow, g.n, dp, g.f, dw.ptr, scratch.ptr);
      return dw.info;
    }
    call.e.gradW(xp, g.w * g.c, g.s * g.c, g.ow, g.n, kc, dp, g.f, dw.ptr);
    return dw.info;
  });
}

/**
 * Input gradient as one product (see {@link conv1dBackpropInput} for the identity): row q of the
 * result, the input positions q·s … q·s + s − 1, is dY rows q − M + 1 … q (M = ⌈K/s⌉, zero
 * outside) flattened, times G [M·F, s·C], G[m'·F + f, r·C + c] = W[(M − 1 − m')·s + r, c, f].
 * Written straight into dX when the windows cover no more than the input, else through scratch.
 * With M even this product (a stride-1 convolution of M blocks over dY) runs in the Winograd form
 * of `GemmEngine.convWinograd`: three products of half the length, then the last row directly
 * (measured, batch 32, medians of 11: conv2 118 → 105 ms, conv3 62 → 51).
 */
function engineBackpropInput(backend: HeapBackend, dy: Info, filter: Info, g: Conv1dGeometry): Info | null {
  const { n, w, c, k, f, s, ow } = g;
  if ((s * c) % NR !== 0) return null;
  const m = Math.ceil(k / s);
  const rows = ow + m - 1;
  const padded = ow + 2 * (m - 1);
  const covered = Math.min(w, rows * s) * c;
  return onEngine(backend, (call) => {
    const db = call.temp(n * padded * f);
    const gp = call.temp(m * f * s * c);
    const dx = call.output([n, 1, w, c]);
    const direct = rows * s <= w;
    const xb = direct ? null : call.temp(n * rows * s * c);
    // dY with M − 1 zero rows before and after each example.
    const dyv = backend.typedArrayFromHeap(dy);
    const dpad = db.view();
    dpad.fill(0);
    for (let b = 0; b < n; b++) dpad.set(dyv.subarray(b * ow * f, (b + 1) * ow * f), (b * padded + m - 1) * f);
    // G, packed for the engine directly (slab j holds columns 8j … 8j + 7 for every row), or
    // row-major for the Winograd form (an even number of tap groups M, as the paper's conv2/conv3:
    // 3/4 of the multiply-adds, see GemmEngine.convWinograd).
    const winograd = m % 2 === 0 && rows >= 2;
    const wv = backend.typedArrayFromHeap(filter);
    const gv = gp.view();
    const kRows = m * f;
    const sc = s * c;
    gv.fill(0);
    for (let mp = 0; mp < m; mp++) {
      if (winograd) {
        // Row-major: written in order (row mp·F + ff, columns r·C + cc), read f floats apart.
        for (let ff = 0; ff < f; ff++) {
          const row = (mp * f + ff) * sc;
          for (let r = 0; r < s; r++) {
            const tap = (m - 1 - mp) * s + r;
            if (tap >= k) continue;
            for (let cc = 0; cc < c; cc++) gv[row + r * c + cc] = wv[(tap * c + cc) * f + ff] as number;
          }
        }
        continue;
      }
      for (let r = 0; r < s; r++) {
        const tap = (m - 1 - mp) * s + r;
        if (tap >= k) continue;
        for (let cc = 0; cc < c; cc++) {
          const col = r * c + cc;
          const slab = (col / NR) | 0;
          const lane = col % NR;
          for (let ff = 0; ff < f; ff++) gv[(slab * kRows + mp * f + ff) * NR + lane] = wv[(tap * c + cc) * f + ff] as number;
        }
      }
    }
    const scratch = winograd ? call.temp(winogradScratchLength(f, m, rows, n, sc)).ptr : 0;
    const product = (out: number, outBatch: number): void => {
      if (winograd) call.e.convWinograd(db.ptr, padded * f, f, m, rows, n, gp.ptr, sc, out, scratch, undefined, outBatch);
      else call.e.gemm(db.ptr, padded * f, f, rows, n, kRows, gp.ptr, sc, out, 'packed', outBatch);
    };
    if (xb === null) {
      product(dx.ptr, w * c);
    } else {
      product(xb.ptr, rows * sc);
      const xv = xb.view();
      const ov = dx.view();
      for (let b = 0; b < n; b++) ov.set(xv.subarray(b * rows * s * c, b * rows * s * c + covered), b * w * c);
    }
    // Inputs past the last window get no gradient.
    if (covered < w * c) {
      const ov = dx.view();
      for (let b = 0; b < n; b++) ov.fill(0, b * w * c + covered, (b + 1) * w * c);
    }
    return dx.info;
  });
}

/** Below this many multiply-adds XNNPACK's matrix product is as fast as the engine's. */
const ENGINE_MIN_MATMUL_MACS = 1 << 20;

/** [rows, cols] of a rank-2 tensor or a rank-3 one with batch 1; null otherwise. */
function matrixShape(t: Info): [number, number] | null {
  const s = t.shape;
  if (s.length === 2) return [s[0] as number, s[1] as number];
  if (s.length === 3 && s[0] === 1) return [s[1] as number, s[2] as number];
  return null;
}

/**
 * A plain or transposed matrix product (batch 1) on the engine, or null where the engine does
 * not apply (it needs the output's column count, or for a·bᵀ its row count, a multiple of 8):
 * - a·b: `gemm` with b row-major;
 * - aᵀ·b (a Dense layer's weight gradient): a transposed, then as a·b;
 * - a·bᵀ (a Dense layer's input gradient): (b·aᵀ)ᵀ, with aᵀ packed (small: a is the batch).
 * Returns the product [M, N] (rank of `a`).
 */
function engineMatMul(backend: HeapBackend, a: Info, b: Info, ta: boolean, tb: boolean, bias?: Info, relu = false): Info | null {
  const as = matrixShape(a);
  const bs = matrixShape(b);
  if (as === null || bs === null || (ta && tb) || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  // Mixed ranks and mismatched inner sizes go to tfjs's kernel, which broadcasts or refuses them.
  if (a.shape.length !== b.shape.length) return null;
  const [m, k] = ta ? [as[1], as[0]] : as;
  const n = tb ? bs[0] : bs[1];
  if ((tb ? bs[1] : bs[0]) !== k) return null;
  if (m * k * n < ENGINE_MIN_MATMUL_MACS) return null;
  if (tb ? m % NR !== 0 : n % NR !== 0) return null;
  const outShape = a.shape.length === 3 ? [1, m, n] : [m, n];
  return onEngine(backend, (call) => {
    if (!tb) {
      const bp = call.input(b);
      let ap: number;
      if (ta) {
        // aᵀ·b: a [K, M] transposed once (for a Dense weight gradient, a is the batch's inputs, small),
        // then the plain product: 5× faster than gradW's K-long strided reductions here.
        const at = call.temp(m * k);
        const av = backend.typedArrayFromHeap(a);
        const tv = at.view();
        for (let r = 0; r < k; r++) for (let j = 0; j < m; j++) tv[j * k + r] = av[r * m + j] as number;
        ap = at.ptr;
      } else {
        ap = call.input(a);
      }
      const out = call.output(outShape);
      call.e.matmul(ap, m, k, bp, n, out.ptr, { bias: bias === undefined ? null : call.input(bias), relu });
      return out.info;
    }
    const bp = call.input(b);
    const ap = call.temp(k * m);
    const ct = call.temp(n * m);
    const out = call.output(outShape);
    packBTransposed(backend.typedArrayFromHeap(a), m, k, ap.view());
    call.e.gemm(bp, 0, k, n, 1, k, ap.ptr, m, ct.ptr);
    const cv = ct.view();
    const ov = out.view();
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) ov[j * n + i] = cv[i * m + j] as number;
    return out.info;
  });
}

/**
 * `_FusedMatMul` (a Dense layer's forward pass) on the engine: the product, then bias and a
 * linear or ReLU activation in one pass; other activations fall back.
 */
function engineFusedMatMul(backend: HeapBackend, inputs: tf.NamedTensorInfoMap, attrs: tf._FusedMatMulAttrs): Info | null {
  const { a, b, bias, preluActivationWeights } = inputs;
  if (a === undefined || b === undefined || preluActivationWeights !== undefined) return null;
  if (attrs.activation !== 'linear' && attrs.activation !== 'relu') return null;
  const n = (attrs.transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1]) as number;
  // A bias that varies along the last axis only (shape [N], [1, N], …) or a scalar; others (e.g.
  // [M, 1], per row) broadcast differently and go to tfjs's kernel.
  if (bias !== undefined) {
    const size = tf.util.sizeFromShape(bias.shape);
    const lastOnly = bias.shape.slice(0, -1).every((d) => d === 1);
    if (!(size === 1 || (size === n && lastOnly && bias.shape[bias.shape.length - 1] === n))) return null;
  }
  const relu = attrs.activation === 'relu';
  if (!attrs.transposeB && (bias === undefined || tf.util.sizeFromShape(bias.shape) === n)) {
    // The plain product takes a per-column bias and ReLU in its last pass.
    return engineMatMul(backend, a, b, attrs.transposeA, false, bias, relu);
  }
  const out = engineMatMul(backend, a, b, attrs.transposeA, attrs.transposeB);
  if (out === null) return null;
  const ov = backend.typedArrayFromHeap(out);
  const bv = bias === undefined ? null : backend.typedArrayFromHeap(bias);
  for (let i = 0; i < ov.length; i++) {
    let v = ov[i] as number;
    if (bv !== null) v += bv.length === 1 ? (bv[0] as number) : (bv[i % n] as number);
    ov[i] = relu && v < 0 ? 0 : v;
  }
  return out;
}

/**
 * One Adamax step for one variable on wasm: inputs m, u, w, g (same shape) and `constants`
 * [β1, 1 − β1, β2, ε, −lr/(1 − β1ᵗ)]; outputs [m', u', w']. Used by `SaveableAdamax`.
 */
export const ADAMAX_STEP_KERNEL = 'FmmAdamaxStep';

/**
 * y = offset + (x − mean) · scale / √(variance + ε) per channel (the last axis), statistics of
 * size 1 or `channels`, in float64 per value as tfjs's cpu kernel does.
 */
function batchNormLastAxis(
  backend: HeapBackend, x: Info, mean: Info, variance: Info, offset: Info | undefined, scale: Info | undefined,
  channels: number, epsilon: number,
): Info {
  const pick = (t: Info | undefined, fallback: number): Float64Array => {
    const v = t === undefined ? null : backend.typedArrayFromHeap(t);
    return Float64Array.from({ length: channels }, (_, c) => (v === null ? fallback : (v[v.length === 1 ? 0 : c] as number)));
  };
  const m = pick(mean, 0);
  const off = pick(offset, 0);
  const sc = pick(scale, 1);
  const va = pick(variance, 1);
  const gain = Float64Array.from({ length: channels }, (_, c) => (sc[c] as number) / Math.sqrt((va[c] as number) + epsilon));
  const out = backend.makeOutput([...x.shape], 'float32');
  const xv = backend.typedArrayFromHeap(x);
  const ov = backend.typedArrayFromHeap(out);
  if (channels === 1) {
    const [m0, g0, o0] = [m[0] as number, gain[0] as number, off[0] as number];
    for (let i = 0; i < xv.length; i++) ov[i] = o0 + ((xv[i] as number) - m0) * g0;
  } else {
    for (let i = 0, c = 0; i < xv.length; i++, c = c + 1 === channels ? 0 : c + 1) {
      ov[i] = (off[c] as number) + ((xv[i] as number) - (m[c] as number)) * (gain[c] as number);
    }
  }
  return out;
}

/** Our kernel for ReLU's gradient on wasm (dy · step(x)); other backends keep tfjs's ops. */
const RELU_GRAD_KERNEL = 'FmmReluGrad';

let installed = false;

/**
 * Registers the kernels above for the `wasm` backend. Idempotent; call before `tf.setBackend('wasm')`
 * so that the replaced kernels' set-up functions still run when the backend initialises.
 *
 * @throws if the installed tfjs is not {@link SUPPORTED_TFJS_VERSION}.
 */
export function installWasmTrainingKernels(): void {
  if (installed) return;
  assertTfjsVersion();
  const originals = new Map<string, tf.KernelConfig>();
  for (const name of [tf.Conv2D, tf.FusedConv2D, tf.Conv2DBackpropInput, tf.BatchMatMul, tf._FusedMatMul, tf.Identity, tf.Slice, tf.FusedBatchNorm, tf.Sum]) {
    const config = tf.getKernel(name, 'wasm');
    if (config === undefined) throw new Error(`fmmatch: wasm kernel ${name} not found; is tfjs-backend-wasm loaded?`);
    originals.set(name, config);
  }
  if (tf.getKernel(tf.Conv2DBackpropFilter, 'wasm') !== undefined) {
    throw new Error('fmmatch: tfjs-backend-wasm now has Conv2DBackpropFilter; re-check src/model/wasm-kernels.ts');
  }

  const wrap =
    (body: (r: KernelRunner, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap, backend: object) => Info | null, fallback?: tf.KernelConfig) =>
    (params: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap }): Info | Info[] => {
      const r = new KernelRunner(params.backend as tf.KernelBackend, originals);
      try {
        const out = body(r, params.inputs, params.attrs ?? {}, params.backend);
        if (out === null) {
          r.abandon();
          if (fallback === undefined) throw new Error('no fallback kernel');
          return fallback.kernelFunc(params);
        }
        return r.finish(out);
      } catch (e) {
        r.abandon();
        throw e;
      }
    };
  const input = (inputs: tf.NamedTensorInfoMap, name: string): Info => {
    const t = inputs[name];
    if (t === undefined) throw new Error(`missing kernel input ${name}`);
    return t;
  };

  const heap = (backend: object): HeapBackend => backend as unknown as HeapBackend;
  /** Replaces wasm's kernel `name` by `body`, which may return null to run the replaced kernel. */
  const replace = (name: string, body: Parameters<typeof wrap>[0]): void => {
    const original = originals.get(name) as tf.KernelConfig;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...original, kernelFunc: wrap(body, original) });
  };

  replace(tf.Conv2D, (_r, inputs, attrs, backend) => {
    const a = attrs as unknown as tf.Conv2DAttrs;
    const x = input(inputs, 'x');
    const filter = input(inputs, 'filter');
    const g = engineConv1d(x.shape, filter.shape, a.strides, a.pad, a.dilations, a.dimRoundingMode, a.dataFormat, ENGINE_MIN_REDUCTION);
    return g === null ? null : engineConv2d(heap(backend), x, filter, g);
  });

  // Inference's fused convolutions (bias and ReLU in the product's last pass; `infer.ts` calls
  // them): the blocked product (or its Winograd form) for long reductions, the direct kernel for
  // short ones (a first layer's K·C = 5, where XNNPACK then a bias Add and a Relu take ≈ 40 ms
  // per batch of 32).
  replace(tf.FusedConv2D, (_r, inputs, attrs, backend) => {
    const a = attrs as unknown as tf.FusedConv2DAttrs;
    const x = input(inputs, 'x');
    const filter = input(inputs, 'filter');
    const bias = inputs['bias'];
    if (inputs['preluActivationWeights'] !== undefined || (a.activation !== 'relu' && a.activation !== 'linear')) return null;
    const f = filter.shape[3] as number;
    if (bias !== undefined && !(bias.shape.length === 1 && bias.shape[0] === f)) return null;
    const long = engineConv1d(x.shape, filter.shape, a.strides, a.pad, a.dilations, a.dimRoundingMode, a.dataFormat, ENGINE_MIN_REDUCTION);
    const g = long ?? engineConv1d(x.shape, filter.shape, a.strides, a.pad, a.dilations, a.dimRoundingMode, a.dataFormat, 1);
    if (g === null) return null;
    return engineConv2d(heap(backend), x, filter, g, { bias, relu: a.activation === 'relu', direct: long === null });
  });

  tf.registerKernel({
    kernelName: tf.Conv2DBackpropFilter,
    backendName: 'wasm',
    kernelFunc: wrap((r, inputs, attrs, backend) => {
      const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      const x = input(inputs, 'x');
      const dy = input(inputs, 'dy');
      const g = engineConv1d(x.shape, a.filterShape, a.strides, a.pad, 1, a.dimRoundingMode, a.dataFormat, 1);
      return g !== null ? engineBackpropFilter(heap(backend), x, dy, g) : conv2dBackpropFilter(r, x, dy, a);
    }),
  });

  replace(tf.Conv2DBackpropInput, (r, inputs, attrs, backend) => {
    const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const filter = input(inputs, 'filter');
    const is1d = a.inputShape[1] === 1 && filter.shape[0] === 1 && a.dataFormat === 'NHWC';
    if (!is1d) return null;
    const dy = input(inputs, 'dy');
    const g = engineConv1d(a.inputShape, filter.shape, a.strides, a.pad, 1, a.dimRoundingMode, a.dataFormat, ENGINE_MIN_REDUCTION);
    return (g !== null ? engineBackpropInput(heap(backend), dy, filter, g) : null) ?? conv1dBackpropInput(r, dy, filter, a);
  });

  replace(tf.BatchMatMul, (r, inputs, attrs, backend) => {
    const a = attrs as unknown as tf.BatchMatMulAttrs;
    const x = input(inputs, 'a');
    const y = input(inputs, 'b');
    const viaEngine = engineMatMul(heap(backend), x, y, a.transposeA, a.transposeB);
    if (viaEngine !== null) return viaEngine;
    if (!a.transposeA && !a.transposeB) return null;
    return batchMatMulTransposed(r, x, y, a);
  });

  replace(tf._FusedMatMul, (r, inputs, attrs, backend) => {
    const a = attrs as unknown as tf._FusedMatMulAttrs;
    const viaEngine = engineFusedMatMul(heap(backend), inputs, a);
    if (viaEngine !== null) return viaEngine;
    const bias = inputs['bias'];
    const activationKernel: Record<string, string | undefined> = { linear: undefined, relu: tf.Relu, relu6: tf.Relu6, elu: tf.Elu, sigmoid: tf.Sigmoid };
    if (bias !== undefined && bias.shape.length > 1 && a.activation in activationKernel && inputs['preluActivationWeights'] === undefined) {
      // tfjs-backend-wasm 4.22.0 adds a bias of rank > 1 (e.g. [M, 1], one per row) as if it
      // were per column (tested): the product, then tfjs's broadcasting Add, then the activation.
      const product = r.run(tf.BatchMatMul, { a: input(inputs, 'a'), b: input(inputs, 'b') }, { transposeA: a.transposeA, transposeB: a.transposeB });
      const biased = r.run(tf.Add, { a: product, b: bias });
      const act = activationKernel[a.activation];
      return act === undefined ? biased : r.run(act, { x: biased });
    }
    if (!a.transposeA && !a.transposeB) return null;
    // tfjs-backend-wasm 4.22.0's _FusedMatMul is wrong whenever an operand is transposed (errors
    // of order 1 against the cpu backend; tested): transpose first, then the plain fused product.
    const swapLast = (t: Info): Info => {
      const perm = [...Array(t.shape.length).keys()];
      [perm[perm.length - 2], perm[perm.length - 1]] = [perm.length - 1, perm.length - 2];
      return r.transpose(t, perm);
    };
    const x = input(inputs, 'a');
    const y = input(inputs, 'b');
    return r.run(
      tf._FusedMatMul,
      { ...inputs, a: a.transposeA ? swapLast(x) : x, b: a.transposeB ? swapLast(y) : y },
      { ...attrs, transposeA: false, transposeB: false },
    );
  });

  // Identity shares the input's memory, as wasm's Reshape does, instead of copying it: the engine
  // clones every tensor a gradient saves, and the copies of the first layer's activations cost
  // ≈ 50 ms per training step of the paper's CNN. Tensors are immutable, so sharing is safe.
  const identity = originals.get(tf.Identity) as tf.KernelConfig;
  tf.unregisterKernel(tf.Identity, 'wasm');
  tf.registerKernel({
    ...identity,
    kernelFunc: (params) => {
      const x = params.inputs['x'];
      if (x === undefined || x.dtype === 'string') return identity.kernelFunc(params);
      (params.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  });

  // ReLU's gradient in one pass on the engine's threads. tfjs's is Step, Cast and Multiply over the
  // whole activation (≈ 38 ms per step for the paper CNN's first layer, 16 M values); this is the
  // same product, value for value (tested), in one read of dy and x, except that subnormal results
  // are flushed to zero, as native TensorFlow does on CPU (see the kernel in wasm-gemm.ts: why).
  tf.registerKernel({
    kernelName: RELU_GRAD_KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const dy = input(inputs, 'dy');
      const x = input(inputs, 'x');
      return onEngine(heap(backend), (call) => {
        const dp = call.input(dy);
        const xp = call.input(x);
        const out = call.output([...x.shape]);
        call.e.reluGrad(dp, xp, out.ptr, tf.util.sizeFromShape(x.shape));
        return out.info;
      });
    },
  });
  // Its own gradient, for second derivatives through ReLU: linear in dy with slope step(x), flat in x.
  tf.registerGradient({
    kernelName: RELU_GRAD_KERNEL,
    inputsToSave: ['x'],
    gradFunc: (ddy, saved) => {
      const [x] = saved as [tf.Tensor];
      return { dy: () => tf.mul(ddy as tf.Tensor, tf.cast(tf.step(x), 'float32')), x: () => tf.zerosLike(x) };
    },
  });
  const reluGrad = tf.getGradient(tf.Relu);
  if (reluGrad === undefined) throw new Error('fmmatch: tfjs has no Relu gradient to replace');
  tf.registerGradient({
    ...reluGrad,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [tf.Tensor];
      const onWasm = tf.getBackend() === 'wasm' && x.dtype === 'float32' && !Array.isArray(dy) && dy.dtype === 'float32';
      if (!onWasm) return reluGrad.gradFunc(dy, saved, attrs);
      return { x: () => tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: dy as tf.Tensor, x }) as tf.Tensor };
    },
  });

  // One Adamax step per variable in one pass (see SaveableAdamax.applyGradients): tfjs's takes ten
  // element-wise operations, each a pass over the variable (the first Dense kernel: 4.5 M values).
  tf.registerKernel({
    kernelName: ADAMAX_STEP_KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const [m, u, w, g, k] = ['m', 'u', 'w', 'g', 'constants'].map((name) => input(inputs, name)) as [Info, Info, Info, Info, Info];
      for (const t of [m, u, w, g, k]) if (t.dtype !== 'float32') throw new Error(`${ADAMAX_STEP_KERNEL}: float32 only`);
      for (const t of [m, u, g]) {
        if (!tf.util.arraysEqual(t.shape, w.shape)) throw new Error(`${ADAMAX_STEP_KERNEL}: shape ${t.shape} differs from the variable's ${w.shape}`);
      }
      if (tf.util.sizeFromShape(k.shape) !== 5) throw new Error(`${ADAMAX_STEP_KERNEL}: expected 5 constants`);
      return onEngine(heap(backend), (call) => {
        const [mp, up, wp, gp, kp] = [m, u, w, g, k].map((t) => call.input(t)) as [number, number, number, number, number];
        const outs = [0, 1, 2].map(() => call.output([...w.shape]));
        const [om, ou, ow] = outs as [(typeof outs)[0], (typeof outs)[0], (typeof outs)[0]];
        call.e.adamax(mp, up, wp, gp, kp, om.ptr, ou.ptr, ow.ptr, tf.util.sizeFromShape(w.shape));
        return outs.map((o) => o.info);
      });
    },
  });

  // A slice that is the whole tensor shares its memory (tfjs-layers' predict slices every batch,
  // the whole input when it is one batch: 9 ms per paper-CNN batch of 32).
  const slice = originals.get(tf.Slice) as tf.KernelConfig;
  tf.unregisterKernel(tf.Slice, 'wasm');
  tf.registerKernel({
    ...slice,
    kernelFunc: (params) => {
      const x = params.inputs['x'];
      const a = params.attrs as unknown as tf.SliceAttrs;
      if (x !== undefined && x.dtype !== 'string') {
        const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, a.begin, a.size);
        if (begin.every((b) => b === 0) && size.every((n, i) => n === x.shape[i])) {
          (params.backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
          return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
        }
      }
      return slice.kernelFunc(params);
    },
  });

  // Batch normalisation with per-channel (last axis) or scalar statistics in one JavaScript pass:
  // wasm's kernel takes 10 ms for the paper CNN's input (2 M values), this ≈ 3 ms.
  replace(tf.FusedBatchNorm, (_r, inputs, attrs, backend) => {
    const { x, mean, variance, offset, scale } = inputs;
    if (x === undefined || mean === undefined || variance === undefined) return null;
    const channels = x.shape[x.shape.length - 1] ?? 1;
    const stats = [mean, variance, offset, scale].filter((t): t is Info => t !== undefined);
    if (x.dtype !== 'float32' || stats.some((t) => t.dtype !== 'float32' || (t.shape.length > 1 && tf.util.sizeFromShape(t.shape) !== 1))) return null;
    const sizes = stats.map((t) => tf.util.sizeFromShape(t.shape));
    if (sizes.some((n) => n !== 1 && n !== channels)) return null;
    return batchNormLastAxis(heap(backend), x, mean, variance, offset, scale, channels, (attrs as unknown as tf.FusedBatchNormAttrs).varianceEpsilon);
  });

  replace(tf.Sum, (_r, inputs, attrs, backend) => {
    const x = input(inputs, 'x');
    const a = attrs as unknown as tf.SumAttrs;
    if (x.dtype !== 'float32' || x.shape.length < 2) return null;
    const axes = tf.util.parseAxisParam(a.axis, x.shape).sort((p, q) => p - q);
    const leading = axes.every((ax, i) => ax === i) && axes.length < x.shape.length;
    const rows = x.shape.slice(0, axes.length).reduce((p, q) => p * q, 1);
    return leading && rows >= SUM_LEADING_MIN_ROWS ? sumLeadingAxes(backend as unknown as WasmHeapBackend, x, axes.length, a.keepDims) : null;
  });
  installed = true;
}
