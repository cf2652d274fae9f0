/**
 * The wasm training kernels, the dilated/causal convolution gradients and whole-model gradients,
 * each checked against the JS cpu backend and against finite differences of an independent
 * float64 reference (for the kernels) or of the model's own loss (for whole models).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, initBackend, type BackendInfo } from '../src/model/backend.ts';
import { relaxedSimdAvailable } from '../src/model/wasm-gemm.ts';
import { causalConv1d } from '../src/model/conv-grads.ts';
import { assertTfjsVersion, wasmEngineStats } from '../src/model/wasm-kernels.ts';
import { SaveableAdamax } from '../src/model/adamax.ts';
import { buildPaperCnn } from '../src/model/cnn.ts';
import { buildTcn } from '../src/model/tcn.ts';
import { buildCarrierNet, DEFAULT_CARRIER_NET_CONFIG } from '../src/model/carrier-net.ts';
import { DEFAULT_LOG_SPECTRUM } from '../src/features/log-spectrum.ts';
import { expectClose, relMaxError } from './helpers.ts';

const rng = seedrandom('fmmatch-model-backend');
const randInt = (lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const randArray = (n: number): Float64Array => Float64Array.from({ length: n }, () => rng() * 2 - 1);

let wasmInfo: BackendInfo;

before(async () => {
  await initBackend({ backend: 'cpu' });
  wasmInfo = await initBackend({ backend: 'wasm', threads: 2 });
});

after(async () => {
  await tf.setBackend('wasm');
});

/** Runs `fn` on `backend`, returning plain arrays, and asserts no tensor leaked. */
async function on<T>(backend: 'wasm' | 'cpu', fn: () => T): Promise<T> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const out = fn();
  assert.equal(tf.memory().numTensors, before, `tensor leak on ${backend}`);
  return out;
}


// ---------- float64 references ----------

interface Conv2dCase {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly kh: number;
  readonly kw: number;
  readonly f: number;
  readonly strides: [number, number];
  readonly dilations: [number, number];
  readonly pad: 'valid' | 'same';
}

/** Σ R ⊙ conv2d(x, w) in float64, NHWC, with tfjs's padding arithmetic. */
function convLoss64(cs: Conv2dCase, x: Float64Array, w: Float64Array, r: Float64Array): number {
  const info = tf.backend_util.computeConv2DInfo([cs.n, cs.h, cs.w, cs.c], [cs.kh, cs.kw, cs.c, cs.f], cs.strides, cs.dilations, cs.pad);
  const { outHeight: oh, outWidth: ow } = info;
  let loss = 0;
  for (let b = 0; b < cs.n; b++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++)
        for (let o = 0; o < cs.f; o++) {
          let acc = 0;
          for (let i = 0; i < cs.kh; i++) {
            const iy = y * cs.strides[0] + i * cs.dilations[0] - info.padInfo.top;
            if (iy < 0 || iy >= cs.h) continue;
            for (let j = 0; j < cs.kw; j++) {
              const ix = xx * cs.strides[1] + j * cs.dilations[1] - info.padInfo.left;
              if (ix < 0 || ix >= cs.w) continue;
              for (let ci = 0; ci < cs.c; ci++) {
                acc += (x[((b * cs.h + iy) * cs.w + ix) * cs.c + ci] as number) * (w[((i * cs.kw + j) * cs.c + ci) * cs.f + o] as number);
              }
            }
          }
          loss += acc * (r[((b * oh + y) * ow + xx) * cs.f + o] as number);
        }
  return loss;
}

/** Central finite difference of a float64 function at `k` random coordinates of `v`. */
function finiteDiffs(v: Float64Array, loss: () => number, k: number): Array<[index: number, derivative: number]> {
  const eps = 1e-3;
  const out: Array<[number, number]> = [];
  for (let t = 0; t < k; t++) {
    const i = randInt(0, v.length - 1);
    const v0 = v[i] as number;
    v[i] = v0 + eps;
    const lp = loss();
    v[i] = v0 - eps;
    const lm = loss();
    v[i] = v0;
    out.push([i, (lp - lm) / (2 * eps)]);
  }
  return out;
}

function convGrads(cs: Conv2dCase, x: Float64Array, w: Float64Array, r: Float64Array): { y: Float32Array; dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const xt = tf.tensor4d(Float32Array.from(x), [cs.n, cs.h, cs.w, cs.c]);
    const wt = tf.tensor4d(Float32Array.from(w), [cs.kh, cs.kw, cs.c, cs.f]);
    const conv = (a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D => tf.conv2d(a, b, cs.strides, cs.pad, 'NHWC', cs.dilations);
    const y = conv(xt, wt);
    const rt = tf.tensor(Float32Array.from(r), y.shape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), rt)));
    const [dx, dw] = g([xt, wt]) as [tf.Tensor, tf.Tensor];
    return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

function randomConvCase(oneD: boolean, dilated: boolean): Conv2dCase {
  const kw = randInt(1, 9);
  const dil = dilated ? randInt(2, 5) : 1;
  const stride = dilated ? 1 : randInt(1, 5);
  const kh = oneD ? 1 : randInt(1, 3);
  const pad = rng() < 0.3 ? 'same' : 'valid';
  const w = (kw - 1) * dil + 1 + randInt(0, 30) + (rng() < 0.5 ? 1 : 0);
  const h = oneD ? 1 : kh + randInt(0, 4);
  return {
    n: rng() < 0.3 ? 1 : randInt(2, 3),
    h,
    w,
    c: randInt(1, 5),
    kh,
    kw,
    f: randInt(1, 6),
    strides: [oneD ? 1 : dilated ? 1 : randInt(1, 2), stride],
    dilations: [oneD ? 1 : dilated ? randInt(1, 2) : 1, dil],
    pad,
  };
}

const fixedCases: Conv2dCase[] = [
  // the paper's first layer, scaled down: C = 1, K = 5, stride 2, odd length
  { n: 2, h: 1, w: 401, c: 1, kh: 1, kw: 5, f: 4, strides: [1, 2], dilations: [1, 1], pad: 'valid' },
  // stride > kernel (one tap group), batch 1
  { n: 1, h: 1, w: 37, c: 3, kh: 1, kw: 2, f: 2, strides: [1, 3], dilations: [1, 1], pad: 'valid' },
  // the second layer's ratio K = 8·s
  { n: 2, h: 1, w: 333, c: 4, kh: 1, kw: 32, f: 3, strides: [1, 4], dilations: [1, 1], pad: 'valid' },
  // stride 16, 'same' padding
  { n: 1, h: 1, w: 129, c: 2, kh: 1, kw: 17, f: 2, strides: [1, 16], dilations: [1, 1], pad: 'same' },
];

/**
 * Shapes that run on the project's GEMM engine (1-D, valid padding, filters a multiple of 8, at
 * least 2^20 multiply-adds and 256 output positions; K·C ≥ 64 for the forward pass and input
 * gradient, stride·C a multiple of 8 for the input gradient).
 */
const engineCases: Conv2dCase[] = [
  // the paper's second layer's ratios (K = 8·s), scaled down; s·C = 16
  { n: 3, h: 1, w: 2053, c: 4, kh: 1, kw: 32, f: 8, strides: [1, 4], dilations: [1, 1], pad: 'valid' },
  // batch 1, two slabs of 8 filters, stride 2, odd length
  { n: 1, h: 1, w: 1201, c: 16, kh: 1, kw: 8, f: 16, strides: [1, 2], dilations: [1, 1], pad: 'valid' },
  // K not a multiple of the stride (taps padded to 3·4 = 12), windows stop short of the end
  { n: 2, h: 1, w: 2500, c: 8, kh: 1, kw: 9, f: 16, strides: [1, 4], dilations: [1, 1], pad: 'valid' },
  // s·C = 10: forward and filter gradient on the engine, input gradient on XNNPACK
  { n: 3, h: 1, w: 1601, c: 2, kh: 1, kw: 37, f: 24, strides: [1, 5], dilations: [1, 1], pad: 'valid' },
  // the paper's first layer (K·C = 5): filter gradient on the engine only
  { n: 2, h: 1, w: 13201, c: 1, kh: 1, kw: 5, f: 16, strides: [1, 2], dilations: [1, 1], pad: 'valid' },
  // stride larger than the kernel
  { n: 4, h: 1, w: 2000, c: 16, kh: 1, kw: 4, f: 32, strides: [1, 7], dilations: [1, 1], pad: 'valid' },
  // 'same' padding: falls back to XNNPACK everywhere
  { n: 2, h: 1, w: 120, c: 8, kh: 1, kw: 9, f: 8, strides: [1, 2], dilations: [1, 1], pad: 'same' },
];

/** A random engine shape just above the engine's size thresholds (2^20 multiply-adds, 256 output positions). */
function randomEngineCase(): Conv2dCase {
  const kw = randInt(2, 20);
  const c = randInt(4, 16);
  const n = rng() < 0.3 ? 1 : randInt(2, 3);
  const f = 8 * randInt(1, 3);
  const s = randInt(1, 6);
  const ow = Math.max(Math.ceil((1.1 * 2 ** 20) / (n * kw * c * f)), Math.ceil(260 / n));
  return {
    n,
    h: 1,
    w: kw + s * (ow - 1) + randInt(0, s - 1),
    c,
    kh: 1,
    kw,
    f,
    strides: [1, s],
    dilations: [1, 1],
    pad: 'valid',
  };
}

describe(`wasm training kernels and conv gradients`, () => {
  const cases: Array<[string, Conv2dCase]> = [
    ...fixedCases.map((c, i): [string, Conv2dCase] => [`fixed ${i}`, c]),
    ...engineCases.map((c, i): [string, Conv2dCase] => [`engine ${i}`, c]),
    ...Array.from({ length: 4 }, (_, i): [string, Conv2dCase] => [`random engine ${i}`, randomEngineCase()]),
    ...Array.from({ length: 6 }, (_, i): [string, Conv2dCase] => [`random 1-D ${i}`, randomConvCase(true, false)]),
    ...Array.from({ length: 4 }, (_, i): [string, Conv2dCase] => [`random 2-D ${i}`, randomConvCase(false, false)]),
    ...Array.from({ length: 5 }, (_, i): [string, Conv2dCase] => [`random 1-D dilated ${i}`, randomConvCase(true, true)]),
    ...Array.from({ length: 2 }, (_, i): [string, Conv2dCase] => [`random 2-D dilated ${i}`, randomConvCase(false, true)]),
  ];
  for (const [name, cs] of cases) {
    test(`conv ${name}: ${JSON.stringify(cs)}`, async () => {
      const x = randArray(cs.n * cs.h * cs.w * cs.c);
      const w = randArray(cs.kh * cs.kw * cs.c * cs.f);
      const info = tf.backend_util.computeConv2DInfo([cs.n, cs.h, cs.w, cs.c], [cs.kh, cs.kw, cs.c, cs.f], cs.strides, cs.dilations, cs.pad);
      const r = randArray(cs.n * info.outHeight * info.outWidth * cs.f);
      const runsBefore = wasmEngineStats()?.runs ?? 0;
      const wasm = await on('wasm', () => convGrads(cs, x, w, r));
      if (name.includes('engine') && cs.pad === 'valid') {
        assert.ok((wasmEngineStats()?.runs ?? 0) > runsBefore, 'the GEMM engine ran (not a fallback)');
      }
      const cpu = await on('cpu', () => convGrads(cs, x, w, r));
      expectClose(relMaxError(wasm.y, cpu.y), 0, { atol: 1e-5 }, 'forward, wasm vs cpu');
      expectClose(relMaxError(wasm.dx, cpu.dx), 0, { atol: 1e-5 }, 'dx, wasm vs cpu');
      expectClose(relMaxError(wasm.dw, cpu.dw), 0, { atol: 1e-5 }, 'dw, wasm vs cpu');
      // Independent truth: finite differences of a float64 forward convolution.
      const loss = (): number => convLoss64(cs, x, w, r);
      const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
      const scaleX = maxAbs(wasm.dx);
      const scaleW = maxAbs(wasm.dw);
      for (const [i, d] of finiteDiffs(x, loss, 6)) expectClose(wasm.dx[i] as number, d, { atol: 1e-4 * scaleX }, `dx[${i}] vs finite difference`);
      for (const [i, d] of finiteDiffs(w, loss, 6)) expectClose(wasm.dw[i] as number, d, { atol: 1e-4 * scaleW }, `dw[${i}] vs finite difference`);
    });
  }

  // Inference's fused convolutions (`infer.ts`): bias and activation in the engine's last pass, the
  // direct kernel for short reductions; other activations, paddings and 2-D shapes fall back.
  const fusedConvCases: Array<[string, Conv2dCase, 'relu' | 'linear' | 'elu', boolean, boolean]> = [
    ['direct, the first layer (K·C = 5)', { n: 2, h: 1, w: 13201, c: 1, kh: 1, kw: 5, f: 16, strides: [1, 2], dilations: [1, 1], pad: 'valid' }, 'relu', true, true],
    ['direct, batch 1, C = 3, stride 3', { n: 1, h: 1, w: 70001, c: 3, kh: 1, kw: 3, f: 8, strides: [1, 3], dilations: [1, 1], pad: 'valid' }, 'linear', true, true],
    ['direct, stride > kernel, no bias', { n: 3, h: 1, w: 40000, c: 2, kh: 1, kw: 2, f: 24, strides: [1, 5], dilations: [1, 1], pad: 'valid' }, 'relu', false, true],
    ['blocked, the second layer\'s ratios', engineCases[0] as Conv2dCase, 'relu', true, true],
    ['blocked, batch 1, two slabs', engineCases[1] as Conv2dCase, 'linear', false, true],
    ['blocked, stride > kernel', engineCases[5] as Conv2dCase, 'relu', true, true],
    ['random blocked', randomEngineCase(), 'relu', true, true],
    ['elu: falls back', engineCases[0] as Conv2dCase, 'elu', true, false],
    ['same padding: falls back', engineCases[6] as Conv2dCase, 'relu', true, false],
    ['2-D: falls back', { n: 2, h: 3, w: 30, c: 2, kh: 2, kw: 3, f: 8, strides: [1, 1], dilations: [1, 1], pad: 'valid' }, 'relu', true, false],
  ];
  for (const [name, cs, activation, withBias, onEngine] of fusedConvCases) {
    test(`fused conv (${activation}${withBias ? ', bias' : ''}) ${name}: wasm vs cpu and vs float64`, async () => {
      const x = randArray(cs.n * cs.h * cs.w * cs.c);
      const w = randArray(cs.kh * cs.kw * cs.c * cs.f);
      const bias = randArray(cs.f).map((v) => v * 2);
      const run = (): Float32Array =>
        tf.tidy(() => tf.fused.conv2d({
          x: tf.tensor4d(Float32Array.from(x), [cs.n, cs.h, cs.w, cs.c]),
          filter: tf.tensor4d(Float32Array.from(w), [cs.kh, cs.kw, cs.c, cs.f]),
          strides: cs.strides,
          pad: cs.pad,
          dilations: cs.dilations,
          ...(withBias ? { bias: tf.tensor1d(Float32Array.from(bias)) } : {}),
          activation,
        }).dataSync() as Float32Array);
      const runsBefore = wasmEngineStats()?.runs ?? 0;
      const wasm = await on('wasm', run);
      assert.equal((wasmEngineStats()?.runs ?? 0) > runsBefore, onEngine, onEngine ? 'the engine ran' : 'the engine did not run (fallback)');
      const cpu = await on('cpu', run);
      expectClose(relMaxError(wasm, cpu), 0, { atol: 1e-5 }, 'fused conv, wasm vs cpu');
      // float64: one output per Σ R ⊙ conv with R a one-hot, at random positions.
      const info = tf.backend_util.computeConv2DInfo([cs.n, cs.h, cs.w, cs.c], [cs.kh, cs.kw, cs.c, cs.f], cs.strides, cs.dilations, cs.pad);
      const r = new Float64Array(wasm.length);
      const act = (v: number): number => (activation === 'relu' ? Math.max(0, v) : activation === 'elu' ? (v > 0 ? v : Math.expm1(v)) : v);
      assert.ok(wasm.some((v) => v === 0) || activation !== 'relu', 'the case exercises ReLU');
      for (let t = 0; t < 6; t++) {
        const i = randInt(0, wasm.length - 1);
        r.fill(0);
        r[i] = 1;
        const ref = act(convLoss64(cs, x, w, r) + (withBias ? (bias[i % cs.f] as number) : 0));
        expectClose(wasm[i] as number, ref, { atol: 1e-5 * Math.sqrt(cs.kh * cs.kw * cs.c) }, `output ${i} (of ${info.outWidth} positions × ${cs.f}) vs float64`);
      }
    });
  }

  test('a numeric pad with a rounding mode (tfjs sizes its output from the filter height) stays off the engine', async () => {
    // tfjs 4.22 gives this convolution 1,027 output positions for 255 windows; its own backends
    // then disagree with each other (cpu writes zeros, XNNPACK computes something else): tfjs's
    // bug, which the engine (it would read past each example) must not run into.
    const run = (fused: boolean): number[] =>
      tf.tidy(() => {
        const xt = tf.ones([2, 1, 1027, 16]) as tf.Tensor4D;
        const wt = tf.ones([1, 8, 16, 16]) as tf.Tensor4D;
        const y = fused
          ? tf.fused.conv2d({ x: xt, filter: wt, strides: [1, 4], pad: 0, dimRoundingMode: 'floor', activation: 'relu' })
          : tf.conv2d(xt, wt, [1, 4], 0, 'NHWC', [1, 1], 'floor');
        return y.shape;
      });
    for (const fused of [false, true]) {
      const runsBefore = wasmEngineStats()?.runs ?? 0;
      assert.deepEqual(await on('wasm', () => run(fused)), [2, 1, 1027, 16]);
      assert.equal(wasmEngineStats()?.runs ?? 0, runsBefore, `the engine did not run (${fused ? 'fused' : 'plain'})`);
    }
  });

  // Products of ≥ 2^20 multiply-adds run on the GEMM engine (batch 1, a multiple of 8 where it
  // needs one); the others keep XNNPACK. Both through tf.matMul and the Dense layer's fused product.
  const engineMatMuls: Array<[number[], number, number, number, boolean, boolean]> = [
    [[], 32, 300, 120, false, false],
    [[1], 24, 500, 96, true, false],
    [[], 40, 260, 101, false, true],
    [[], 33, 300, 120, false, false], // plain with N % 8 = 0 but odd M (rows beyond multiples of 4)
    [[], 36, 300, 101, false, true], // a·bᵀ with M % 8 ≠ 0: falls back
    [[], 5, 7, 3, true, true], // small, both transposed: XNNPACK (tfjs 4.22's fused kernel gets this wrong)
    [[], 6, 9, 4, true, false],
  ];
  for (const [batch, m, k, n, ta, tb] of engineMatMuls) {
    test(`matMul and fused matMul (bias, ReLU) batch ${JSON.stringify(batch)} ${m}x${k}x${n} transposeA=${ta} transposeB=${tb}`, async () => {
      const aShape = [...batch, ...(ta ? [k, m] : [m, k])];
      const bShape = [...batch, ...(tb ? [n, k] : [k, n])];
      const a = randArray(aShape.reduce((p, q) => p * q, 1));
      const b = randArray(bShape.reduce((p, q) => p * q, 1));
      const bias = randArray(n);
      const run = (): { plain: Float32Array; fused: Float32Array } =>
        tf.tidy(() => {
          const at = tf.tensor(Float32Array.from(a), aShape);
          const bt = tf.tensor(Float32Array.from(b), bShape);
          const plain = tf.matMul(at, bt, ta, tb).dataSync() as Float32Array;
          const fused = tf.fused.matMul({ a: at, b: bt, transposeA: ta, transposeB: tb, bias: tf.tensor1d(Float32Array.from(bias)), activation: 'relu' });
          return { plain, fused: fused.dataSync() as Float32Array };
        });
      const wasm = await on('wasm', run);
      const cpu = await on('cpu', run);
      expectClose(relMaxError(wasm.plain, cpu.plain), 0, { atol: 1e-5 }, 'matMul, wasm vs cpu');
      expectClose(relMaxError(wasm.fused, cpu.fused), 0, { atol: 1e-5 }, 'fused matMul, wasm vs cpu');
      const av = (i: number, p: number): number => (a[ta ? p * m + i : i * k + p] as number);
      const bv = (p: number, j: number): number => (b[tb ? j * k + p : p * n + j] as number);
      for (let t = 0; t < 5; t++) {
        const i = randInt(0, m - 1);
        const j = randInt(0, n - 1);
        let ref = 0;
        for (let p = 0; p < k; p++) ref += av(i, p) * bv(p, j);
        expectClose(wasm.plain[i * n + j] as number, ref, { atol: 1e-5 * k }, 'matMul vs float64');
        expectClose(wasm.fused[i * n + j] as number, Math.max(0, ref + (bias[j] as number)), { atol: 1e-5 * k }, 'fused vs float64');
      }
    });
  }

  for (let t = 0; t < 6; t++) {
    const batch = t < 2 ? [] : t < 4 ? [randInt(1, 3)] : [1, randInt(2, 3)];
    const [m, k, n] = [randInt(1, 40), randInt(1, 40), randInt(1, 40)];
    const ta = t % 2 === 0;
    const tb = t % 3 !== 0;
    test(`BatchMatMul batch ${JSON.stringify(batch)} ${m}x${k}x${n} transposeA=${ta} transposeB=${tb}`, async () => {
      const aShape = [...batch, ...(ta ? [k, m] : [m, k])];
      const bShape = [...batch, ...(tb ? [n, k] : [k, n])];
      const a = randArray(aShape.reduce((p, q) => p * q, 1));
      const b = randArray(bShape.reduce((p, q) => p * q, 1));
      const run = (): Float32Array =>
        tf.tidy(() => tf.matMul(tf.tensor(Float32Array.from(a), aShape), tf.tensor(Float32Array.from(b), bShape), ta, tb).dataSync() as Float32Array);
      const wasm = await on('wasm', run);
      const cpu = await on('cpu', run);
      expectClose(relMaxError(wasm, cpu), 0, { atol: 1e-5 }, 'matMul, wasm vs cpu');
      // float64 reference for the first batch entry
      const at = (i: number, p: number): number => (a[ta ? p * m + i : i * k + p] as number);
      const bt = (p: number, j: number): number => (b[tb ? j * k + p : p * n + j] as number);
      const i = randInt(0, m - 1);
      const j = randInt(0, n - 1);
      let ref = 0;
      for (let p = 0; p < k; p++) ref += at(i, p) * bt(p, j);
      expectClose(wasm[i * n + j] as number, ref, { atol: 1e-5 * k }, 'matMul vs float64');
    });
  }

  for (const [shape, axis, keepDims] of [
    [[3, 1601, 5], [0, 1], false],
    [[1, 4099, 3], [1, 0], true],
    [[4097, 7], 0, false],
    [[2, 3000, 2, 3], [0, 1], true],
    [[2, 4, 3], [0, 1], false], // short: falls through to wasm's own Sum
    [[3, 2000, 16], [0, 1], false], // columns a multiple of 4: on the engine (chunks of 256 rows)
    [[4100, 2, 4], 0, true],
    [[1, 8, 4000, 1], [0, 1, 2], true], // one column (BatchNormalization), summed as four lanes
    [[6000, 2], 0, false], // two columns
  ] as Array<[number[], number | number[], boolean]>) {
    test(`Sum over leading axes ${JSON.stringify(shape)} axis ${JSON.stringify(axis)} keepDims=${keepDims}`, async () => {
      const x = randArray(shape.reduce((p, q) => p * q, 1));
      const run = (): { values: Float32Array; shape: number[] } =>
        tf.tidy(() => {
          const y = tf.sum(tf.tensor(Float32Array.from(x), shape), axis, keepDims);
          return { values: y.dataSync() as Float32Array, shape: y.shape };
        });
      const wasm = await on('wasm', run);
      const cpu = await on('cpu', run);
      assert.deepEqual(wasm.shape, cpu.shape);
      expectClose(relMaxError(wasm.values, cpu.values), 0, { atol: 1e-5 }, 'sum, wasm vs cpu');
      const cols = wasm.values.length;
      let ref = 0;
      for (let i = 0; i < x.length; i += cols) ref += x[i] as number;
      expectClose(wasm.values[0] as number, ref, { atol: 1e-5 * Math.sqrt(x.length / cols) + 1e-6 }, 'sum vs float64');
    });
  }

  test('ReLU gradient (our fused kernel on wasm) equals tfjs cpu value for value, NaN, ±∞ and ±0 included; subnormals flushed to zero', async () => {
    const n = 4 * 1000 + 3; // a tail beyond the SIMD blocks
    const x = randArray(n).map((v, i) => (i % 17 === 0 ? 0 : v));
    x[5] = NaN;
    x[6] = -0;
    x[n - 1] = NaN;
    x[n - 2] = 2;
    const dy = randArray(n);
    dy[7] = Infinity;
    x[7] = 0; // ∞ · 0 = NaN, as in tfjs
    dy[8] = -Infinity;
    x[8] = 3;
    dy[9] = -1;
    x[9] = -2; // −1 · 0 = −0
    // Subnormal gradients (≈ 1e-39) where x > 0: cpu passes them, the wasm kernel flushes them to
    // zero as native TensorFlow does on CPU; in the SIMD blocks and in the JavaScript tail.
    const subnormal = [10, 11, n - 3];
    dy[10] = 1e-39;
    dy[11] = -3e-39;
    dy[n - 3] = 5e-40;
    for (const i of subnormal) x[i] = 1;
    const run = (): Float32Array =>
      tf.tidy(() => {
        const dyt = tf.tensor(Float32Array.from(dy), [n]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), dyt)));
        return g(tf.tensor(Float32Array.from(x), [n])).dataSync() as Float32Array;
      });
    const wasm = await on('wasm', run);
    const cpu = await on('cpu', run);
    for (const i of subnormal) {
      assert.ok(cpu[i] !== 0 && Math.abs(cpu[i] as number) < 1.1754943508222875e-38, `cpu passes the subnormal at ${i}`);
      assert.ok(Object.is(wasm[i], 0), `wasm flushes the subnormal at ${i} to +0`);
      cpu[i] = 0;
    }
    assert.deepEqual(Buffer.from(wasm.buffer), Buffer.from(cpu.buffer));
    assert.ok(Number.isNaN(wasm[5]) && Number.isNaN(wasm[7]) && Number.isNaN(wasm[n - 1]));
    assert.ok(Object.is(wasm[9], -0));
  });

  test('Adamax: the fused wasm step equals tfjs\'s own update on cpu, value for value, over 4 steps', async () => {
    const shapes = [[3, 5], [1001], [4, 4, 3]];
    const init = shapes.map((sh) => randArray(sh.reduce((p, q) => p * q, 1)));
    const grads = Array.from({ length: 4 }, () => shapes.map((sh) => randArray(sh.reduce((p, q) => p * q, 1)).map((v, i) => (i === 3 ? 0 : v * 3))));
    const train = async (backend: 'wasm' | 'cpu'): Promise<Float32Array[]> => {
      await tf.setBackend(backend);
      const vars = init.map((v, i) => tf.variable(tf.tensor(Float32Array.from(v), shapes[i]), true, `adamax_test_${backend}_${i}`));
      const opt = new SaveableAdamax(0.01);
      for (const step of grads) {
        tf.tidy(() => opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(Float32Array.from(step[i] as Float64Array), shapes[i]) }))));
      }
      const state = await opt.getWeights();
      const out = [...vars, ...state.map((w) => w.tensor)].map((t) => Float32Array.from(t.dataSync() as Float32Array));
      opt.dispose();
      vars.forEach((v) => v.dispose());
      return out;
    };
    const runsBefore = wasmEngineStats()?.runs ?? 0;
    const wasm = await train('wasm');
    assert.ok((wasmEngineStats()?.runs ?? 0) >= runsBefore + 12, 'one engine Adamax step per variable and step');
    const cpu = await train('cpu');
    assert.equal(wasm.length, cpu.length);
    wasm.forEach((w, i) => assert.deepEqual(Buffer.from(w.buffer), Buffer.from((cpu[i] as Float32Array).buffer), `tensor ${i}`));
  });

  test('Adamax on wasm flushes subnormal moments and gradients and weights below 2^-100 to zero (x86 runs subnormals 100× slower), keeps NaN', async () => {
    await tf.setBackend('wasm');
    const tiny = 1e-39; // subnormal in float32
    // 13 values: the SIMD blocks and a JavaScript tail of one.
    const w = tf.variable(tf.tensor1d([tiny, 1, NaN, -tiny, 2, 3, 4, 5, 6, 1e-36, -5e-31, 1e-29, 3e-33]), true, 'adamax_ftz_test');
    const opt = new SaveableAdamax(1e-30); // a step too small to move the normal weights
    opt.applyGradients([{ name: w.name, tensor: tf.tensor1d([0, 1e-3, 0, 0, 1, 2, 3, 1e-40, 5, 0, 0, 0, 0]) }]);
    const after = Array.from(w.dataSync());
    assert.ok(Object.is(after[0], 0) && Object.is(after[3], 0), `subnormal weights flushed: ${after}`);
    assert.ok(Number.isNaN(after[2]), 'NaN kept');
    assert.deepEqual(after.slice(4, 9), [2, 3, 4, 5, 6]);
    assert.ok(after[9] === 0 && after[10] === 0 && after[12] === 0, `weights below 2^-100 (7.9e-31) flushed, the tail included: ${after.slice(9)}`);
    assert.equal(after[11], Math.fround(1e-29), 'a weight of 1e-29 kept');
    const state = await opt.getWeights();
    const m = Array.from(state[2]?.tensor.dataSync() ?? []);
    const u = Array.from(state[3]?.tensor.dataSync() ?? []);
    assert.equal(m[7], 0, 'a subnormal gradient counts as zero (first moment)');
    assert.equal(u[7], 0, 'a subnormal gradient counts as zero (second moment)');
    opt.dispose();
    w.dispose();
  });

  for (const [shape, withAffine] of [[[2, 3001, 1], true], [[4, 50, 3], false], [[7, 5], true]] as Array<[number[], boolean]>) {
    test(`batch normalisation ${JSON.stringify(shape)}${withAffine ? ' with offset and scale, and its gradient' : ''}, wasm vs cpu`, async () => {
      const channels = shape[shape.length - 1] as number;
      const x = randArray(shape.reduce((p, q) => p * q, 1));
      const stats = [randArray(channels), randArray(channels).map((v) => v * v + 0.1), randArray(channels), randArray(channels)];
      const run = (): Float32Array[] =>
        tf.tidy(() => {
          const [m, v, o, sc] = stats.map((a) => tf.tensor1d(Float32Array.from(a as Float64Array)));
          const xt = tf.tensor(Float32Array.from(x), shape);
          const f = (t: tf.Tensor): tf.Tensor => tf.batchNorm(t, m as tf.Tensor1D, v as tf.Tensor1D, withAffine ? o : undefined, withAffine ? sc : undefined, 1e-3);
          const y = f(xt);
          // (tfjs 4.22 cannot differentiate batchNorm without offset and scale, on any backend)
          if (!withAffine) return [y.dataSync() as Float32Array];
          const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), tf.sin(t))))(xt);
          return [y.dataSync() as Float32Array, dx.dataSync() as Float32Array];
        });
      const wasm = await on('wasm', run);
      const cpu = await on('cpu', run);
      wasm.forEach((w, i) => expectClose(relMaxError(w, cpu[i] as Float32Array), 0, { atol: 1e-6 }, ['y', 'dx'][i] as string));
    });
  }

  test('Slice: the whole tensor shares memory, a part is copied; both equal cpu', async () => {
    const x = randArray(4 * 6 * 3);
    const run = (): Float32Array[] =>
      tf.tidy(() => {
        const t = tf.tensor3d(Float32Array.from(x), [4, 6, 3]);
        const whole = tf.slice(t, [0, 0, 0], [-1, 6, 3]);
        const part = tf.slice(t, [1, 2, 0], [2, 3, 3]);
        t.dispose(); // the whole-tensor slice must outlive its source
        return [whole.dataSync() as Float32Array, part.dataSync() as Float32Array];
      });
    const wasm = await on('wasm', run);
    const cpu = await on('cpu', run);
    wasm.forEach((w, i) => assert.deepEqual(Array.from(w), Array.from(cpu[i] as Float32Array)));
    assert.deepEqual(Array.from(wasm[0] as Float32Array), Array.from(Float32Array.from(x)));
  });

  test('causal conv: output t ignores inputs after t; gradients match cpu', async () => {
    const [n, len, c, k, f, d] = [2, 41, 3, 3, 4, 4];
    const x = randArray(n * len * c);
    const w = randArray(k * c * f);
    const run = (xs: Float64Array): { y: Float32Array; dx: Float32Array; dw: Float32Array } =>
      tf.tidy(() => {
        const xt = tf.tensor3d(Float32Array.from(xs), [n, len, c]);
        const wt = tf.tensor3d(Float32Array.from(w), [k, c, f]);
        const y = causalConv1d(xt, wt, d);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(causalConv1d(a as tf.Tensor3D, b as tf.Tensor3D, d))))([xt, wt]) as [tf.Tensor, tf.Tensor];
        return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
      });
    const base = await on('wasm', () => run(x));
    assert.deepEqual([...base.y].length, n * len * f);
    const cut = 20;
    const perturbed = Float64Array.from(x);
    for (let b = 0; b < n; b++) for (let tt = cut + 1; tt < len; tt++) for (let ci = 0; ci < c; ci++) perturbed[(b * len + tt) * c + ci] = 5;
    const after = await on('wasm', () => run(perturbed));
    for (let b = 0; b < n; b++)
      for (let tt = 0; tt <= cut; tt++)
        for (let o = 0; o < f; o++) {
          const idx = (b * len + tt) * f + o;
          assert.equal(after.y[idx], base.y[idx], `output ${idx} changed when only later inputs did`);
        }
    const cpu = await on('cpu', () => run(x));
    expectClose(relMaxError(base.dx, cpu.dx), 0, { atol: 1e-5 }, 'causal dx, wasm vs cpu');
    expectClose(relMaxError(base.dw, cpu.dw), 0, { atol: 1e-5 }, 'causal dw, wasm vs cpu');
  });

  test('a different tfjs version is refused with a clear error', () => {
    assert.doesNotThrow(() => assertTfjsVersion());
    assert.throws(() => assertTfjsVersion({ '@tensorflow/tfjs-core': '4.23.0' }), /tfjs-core is 4\.23\.0, but .* written for 4\.22\.0/);
  });

  test('asking for a native backend that is not installed fails clearly', async (t) => {
    const present = await (await import('../src/model/backend.ts')).availableBackends();
    if (present.includes('tensorflow')) return t.skip('tfjs-node is installed here');
    await assert.rejects(initBackend({ backend: 'tensorflow' }), /needs @tensorflow\/tfjs-node, which is not installed/);
    await tf.setBackend('wasm');
  });

  test('backend info reports wasm, its threads and whether its kernels fuse multiply-adds', () => {
    assert.equal(wasmInfo.name, 'wasm');
    assert.ok(wasmInfo.threads >= 1);
    assert.equal(wasmInfo.wasmSimd, relaxedSimdAvailable() ? 'relaxed-simd-fma' : 'simd128');
    assert.match(describeBackend(wasmInfo), /^backend wasm, \d+ threads?, (relaxed-SIMD FMA|SIMD128) \(tfjs 4\.22\.0\)$/);
    // With threads, the engine works in place on tfjs's shared heap.
    const stats = wasmEngineStats();
    assert.ok(stats !== null && stats.runs > 0);
    assert.equal(stats.inPlace, wasmInfo.threads > 1);
  });

  test('matMul edge cases equal cpu: mismatched inner sizes refused, mixed ranks, a per-row bias [M, 1]', async () => {
    const [av, bv, badv] = [randArray(256 * 64), randArray(64 * 256), randArray(65 * 256)].map((v) => Float32Array.from(v)) as [Float32Array, Float32Array, Float32Array];
    const run = (): Array<number[] | string> =>
      tf.tidy(() => {
        const a = tf.tensor2d(av, [256, 64]);
        const b = tf.tensor2d(bv, [64, 256]);
        const bad = tf.tensor2d(badv, [65, 256]);
        let refused = 'accepted';
        try {
          tf.matMul(a, bad).dataSync();
        } catch (e) {
          refused = /inner shapes/.test(String(e)) ? 'refused' : String(e);
        }
        const mixed = tf.matMul(a, b.reshape([1, 64, 256]));
        const rowBias = tf.linspace(-5, 5, 256).reshape([256, 1]);
        const fused = tf.fused.matMul({ a, b, bias: rowBias, activation: 'relu' });
        return [refused, mixed.shape, Array.from(mixed.dataSync()), Array.from(fused.dataSync())];
      });
    const wasm = await on('wasm', run);
    const cpu = await on('cpu', run);
    assert.equal(wasm[0], 'refused');
    assert.equal(cpu[0], 'refused');
    assert.deepEqual(wasm[1], cpu[1]);
    expectClose(relMaxError(wasm[2] as number[], cpu[2] as number[]), 0, { atol: 1e-5 }, 'mixed ranks');
    expectClose(relMaxError(wasm[3] as number[], cpu[3] as number[]), 0, { atol: 1e-5 }, 'per-row bias');
  });

  test('second derivative through ReLU (our gradient kernel has its own gradient) equals cpu', async () => {
    const run = (): Float32Array =>
      tf.tidy(() => {
        const x = tf.tensor1d([-1, 2, 3, -0.5, 0.25]);
        const g = tf.grad((t: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.relu(u), tf.square(u))))(t).sum());
        return g(x).dataSync() as Float32Array;
      });
    const wasm = await on('wasm', run);
    const cpu = await on('cpu', run);
    assert.deepEqual(Array.from(wasm), Array.from(cpu));
  });
});

// ---------- whole models ----------

/** Gradients of an MSE loss w.r.t. every trainable weight, and the loss, for fixed weights. */
function modelGrads(model: tf.LayersModel, xs: Float32Array, xShape: number[], ys: Float32Array, yShape: number[], weights: Float32Array[]): { loss: number; grads: Float32Array[] } {
  return tf.tidy(() => {
    model.trainableWeights.forEach((v, i) => v.write(tf.tensor(weights[i] as Float32Array, v.shape as number[])));
    const x = tf.tensor(xs, xShape);
    const y = tf.tensor(ys, yShape);
    const f = (): tf.Scalar => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
    const { value, grads } = tf.variableGrads(f, model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val));
    const names = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val.name);
    return { loss: value.dataSync()[0] as number, grads: names.map((nm) => (grads[nm] as tf.Tensor).dataSync() as Float32Array) };
  });
}

/** ‖a − b‖ / ‖b‖ */
function relNormError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += ((a[i] as number) - (b[i] as number)) ** 2;
    den += (b[i] as number) ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

async function checkModel(build: () => tf.LayersModel, xShape: number[], yShape: number[]): Promise<void> {
  await tf.setBackend('wasm');
  const model = build();
  const weights = model.trainableWeights.map((w) => w.read().dataSync().slice() as Float32Array);
  const xs = Float32Array.from(randArray(xShape.reduce((p, q) => p * q, 1)));
  const ys = Float32Array.from(randArray(yShape.reduce((p, q) => p * q, 1)));
  const wasm = await on('wasm', () => modelGrads(model, xs, xShape, ys, yShape, weights));
  const cpu = await on('cpu', () => modelGrads(model, xs, xShape, ys, yShape, weights));
  expectClose(wasm.loss, cpu.loss, { rtol: 1e-5 }, 'loss, wasm vs cpu');
  model.trainableWeights.forEach((w, i) => {
    expectClose(relNormError(wasm.grads[i] as Float32Array, cpu.grads[i] as Float32Array), 0, { atol: 1e-4 }, `gradient of ${w.name}, wasm vs cpu (relative)`);
  });
  // Directional finite difference on wasm (float32, so a loose bound): catches a gradient that is
  // wrong the same way on both backends (the dilated conv gradient is ours on both).
  const dir = weights.map((w) => Float32Array.from(w, () => rng() * 2 - 1));
  let norm = 0;
  for (const d of dir) for (const v of d) norm += v * v;
  // A step of norm 0.03: large enough that the change in the float32 loss (≈ 1e-4) stands well
  // above its rounding noise (≈ 1e-6), small enough that the central difference's O(step²) error
  // stays under the 2 % tolerance for these smooth (tanh) nets.
  const eps = 3e-2 / Math.sqrt(norm);
  const shifted = (sign: number): Float32Array[] => weights.map((w, i) => Float32Array.from(w, (v, j) => v + sign * eps * ((dir[i] as Float32Array)[j] as number)));
  const lp = (await on('wasm', () => modelGrads(model, xs, xShape, ys, yShape, shifted(1)))).loss;
  const lm = (await on('wasm', () => modelGrads(model, xs, xShape, ys, yShape, shifted(-1)))).loss;
  let analytic = 0;
  wasm.grads.forEach((g, i) => g.forEach((v, j) => (analytic += v * eps * ((dir[i] as Float32Array)[j] as number))));
  expectClose((lp - lm) / 2, analytic, { rtol: 2e-2, atol: 1e-6 }, 'directional derivative vs finite difference');
  model.dispose();
}

describe('whole-model gradients, wasm vs cpu', () => {
  test('paper CNN (Tables 2–3 layer structure, 16 800 samples, batch 2, smooth activation)', async () => {
    // Shortest convenient input for the stride chain (≥ 16 611): same layers, flatten F = 64.
    await checkModel(
      () => buildPaperCnn({ inputLength: 16800, convActivation: 'tanh', denseActivation: 'tanh', dropoutRate: 0, seed: 7 }),
      [2, 16800, 1],
      [2, 15],
    );
  });

  test('spectral carrier net (4 channels, dilations 1…256 with same padding, 200 bins, batch 2)', async () => {
    const config = { ...DEFAULT_CARRIER_NET_CONFIG, channels: 4, seed: 3, spectrum: { ...DEFAULT_LOG_SPECTRUM, count: 200 } };
    await checkModel(() => buildCarrierNet(config, 'tanh'), [2, 200, 1], [2, 200]);
  });

  test('TCN (16 channels, dilations 1…16, batch 2, 64 steps)', async () => {
    await checkModel(() => buildTcn({ channels: 16, timeSteps: 64, activation: 'tanh', seed: 11 }), [2, 64, 1], [2, 64, 1]);
  });
});
