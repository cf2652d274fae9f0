/**
 * DDX7: patches as data, the differentiable synth against a float64 reference and against Bessel
 * sidebands, the polyphase reverb against a direct convolution, the matrix-product STFT against a
 * direct DFT, gradients against finite differences, streaming against the whole-signal render,
 * and the train-ddx7 pipeline end to end on two fixture notes. Sizes are tiny on purpose.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { DDX7_PATCH_NAMES, ddx7Patch, type Ddx7Patch, modulatorsOf, validatePatch } from '../src/synth/ddx7-patches.ts';
import {
  causalConvolve, convolveHistoryLength, DDX7_HOP, disposeSpectralBases, fmSynth, multiScaleSpectralLoss, operatorPhases,
  reverbImpulse, stftMagnitude, upsampleLevels,
} from '../src/model/ddx7-synth.ts';
import {
  controlInputs, createDdx7, DEFAULT_DDX7_CONFIG, type Ddx7Config, ddx7Forward, type Ddx7State, disposeDdx7, disposeDdx7State,
  parameterCount, receptiveFieldFrames,
} from '../src/model/ddx7.ts';
import { createDdx7Stream, loadDdx7, renderDdx7 } from '../src/model/ddx7-predict.ts';
import { createDdx7Optimizer, ddx7TrainStep, learningRateAt, loadDdx7Corpus, resolveDdx7Features } from '../src/model/train-ddx7.ts';
import { encodeWavPcm16 } from '../src/dsp/wav.ts';
import { assertOneLineError, expectClose, REPO_ROOT, runCli, SHARED_DIR, tempDir } from './helpers.ts';

const rng = seedrandom('fmmatch-ddx7');
const uniform = (lo: number, hi: number): number => lo + (hi - lo) * rng();

before(async () => {
  await initBackend({ backend: 'wasm', threads: 1 });
});

after(() => {
  disposeSpectralBases();
});

/** Asserts `fn` leaves no tensor behind. */
function noLeak<T>(fn: () => T): T {
  const n = tf.memory().numTensors;
  const out = fn();
  assert.equal(tf.memory().numTensors, n, 'tensor leak');
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// ---------- float64 references, written independently of src/ ----------

/** Causal linear ramp from frame k − 1 to frame k over samples k·hop … k·hop + hop − 1. */
function refUpsample(frames: readonly number[], hop: number): Float64Array {
  const out = new Float64Array(frames.length * hop);
  for (let n = 0; n < out.length; n++) {
    const k = Math.floor(n / hop);
    const prev = frames[Math.max(0, k - 1)];
    out[n] = prev + ((frames[k] - prev) * ((n % hop) + 1)) / hop;
  }
  return out;
}

/** The DDX7 synth in float64: levels [frames][ops], f0 [frames] → audio. */
function refSynth(patch: Ddx7Patch, levels: number[][], f0Hz: number[], sr = 16000, hop = DDX7_HOP): Float64Array {
  const nOps = patch.ratios.length;
  const f0 = refUpsample(f0Hz, hop);
  const lv = Array.from({ length: nOps }, (_, i) => refUpsample(levels.map((l) => l[i]), hop));
  const out = new Float64Array(f0.length);
  let omega = 0;
  for (let n = 0; n < f0.length; n++) {
    omega += (2 * Math.PI * f0[n]) / sr;
    const o = new Float64Array(nOps + 1);
    for (let op = nOps; op >= 1; op--) {
      let ph = patch.ratios[op - 1] * omega;
      for (const [from, to] of patch.modulations) if (to === op) ph += o[from];
      o[op] = lv[op - 1][n] * Math.sin(ph);
    }
    for (const c of patch.carriers) out[n] += o[c];
  }
  return out;
}

/** Bessel function of the first kind J_n(x), integer n ≥ 0, by its power series (fine for x < 10). */
function besselJ(n: number, x: number): number {
  let sum = 0;
  let term = Math.pow(x / 2, n);
  for (let k = 1; k <= n; k++) term /= k;
  for (let m = 0; m < 60; m++) {
    sum += term;
    term *= -(x * x) / 4 / ((m + 1) * (m + 1 + n));
  }
  return sum;
}

/** |DFT| of x at bin k, float64. */
function dftMag(x: ArrayLike<number>, k: number): number {
  let re = 0;
  let im = 0;
  for (let n = 0; n < x.length; n++) {
    const a = (2 * Math.PI * k * n) / x.length;
    re += x[n] * Math.cos(a);
    im -= x[n] * Math.sin(a);
  }
  return Math.hypot(re, im);
}

/** Renders the synth in tfjs from frame levels [frames][ops] and f0 frames. */
function tfSynth(patch: Ddx7Patch, levels: number[][], f0Hz: number[]): Float32Array {
  return noLeak(() => {
    const nOps = patch.ratios.length;
    const ph = operatorPhases(Float32Array.from(f0Hz), 1, patch.ratios, null);
    return tf.tidy(() => {
      const lv = upsampleLevels(tf.tensor3d(levels.flat(), [1, levels.length, nOps]), null);
      const phases = tf.tensor3d(ph.phases, [nOps, 1, f0Hz.length * DDX7_HOP]);
      return fmSynth(patch, lv, phases).dataSync() as Float32Array;
    });
  });
}

describe('patches', () => {
  test('the three instruments and the ablations are valid data', () => {
    assert.deepEqual(DDX7_PATCH_NAMES, ['violin', 'flute', 'trumpet', 'stack2', 'stack4', 'two-stack2']);
    for (const name of DDX7_PATCH_NAMES) validatePatch(ddx7Patch(name));
    assert.deepEqual(ddx7Patch('violin').carriers, [1, 3]);
    assert.deepEqual(modulatorsOf(ddx7Patch('flute'), 1), [2, 3, 5]);
    assert.deepEqual(modulatorsOf(ddx7Patch('trumpet'), 1), [2, 3, 4]);
    assert.deepEqual(ddx7Patch('trumpet').ratios, [1, 1, 1, 1, 3.2, 8.5]);
    expectClose(ddx7Patch('trumpet').defaultImax, 2 * Math.PI, { atol: 1e-12 });
    assert.equal(ddx7Patch('flute').defaultImax, 2);
  });
  test('an unknown patch names the known ones', () => {
    assert.throws(() => ddx7Patch('kazoo'), /unknown patch 'kazoo' \(expected one of violin, flute, trumpet, stack2, stack4, two-stack2\)/);
    assert.throws(() => ddx7Patch('toString'), /unknown patch/);
  });
});

describe('differentiable FM synth', () => {
  test('matches the float64 reference (violin: two carriers, a 4-stack, non-integer phase drift over 24 frames)', () => {
    const patch = ddx7Patch('violin');
    const frames = 24;
    const levels = Array.from({ length: frames }, () => patch.ratios.map((_, i) => (patch.carriers.includes(i + 1) ? uniform(0, 1) : uniform(0, 2))));
    const f0 = Array.from({ length: frames }, () => uniform(180, 420));
    const got = tfSynth(patch, levels, f0);
    const want = refSynth(patch, levels, f0);
    assert.ok(maxAbsDiff(got, want) < 2e-4, `max |error| ${maxAbsDiff(got, want)}`);
  });

  test('trumpet (ratios 3.2 and 8.5) keeps phase over 2 s: float64 phases, no drift', () => {
    const patch = ddx7Patch('trumpet');
    const frames = 500;
    const levels = Array.from({ length: frames }, () => [0.8, 0.5, 0.3, 0.7, 0.4, 0.2]);
    const f0 = Array.from({ length: frames }, (_, k) => 440 + 30 * Math.sin(k / 20));
    const got = tfSynth(patch, levels, f0);
    const want = refSynth(patch, levels, f0);
    assert.ok(maxAbsDiff(got, want) < 5e-4, `max |error| ${maxAbsDiff(got, want)}`);
  });

  test('a 2-operator stack with constant levels has Bessel sidebands J_n(I)', () => {
    const patch = ddx7Patch('stack2');
    const index = 1.3;
    const frames = 64; // 4096 samples, 32 periods of 125 Hz: harmonic h falls on bin 32·h
    const got = tfSynth(patch, Array.from({ length: frames }, () => [1, index]), Array(frames).fill(125));
    for (let h = 1; h <= 6; h++) {
      // sin(ω + I sin ω) = Σ J_n(I) sin((1 + n)ω); n = −h − 1 folds onto harmonic h with J_{−m} = (−1)^m J_m.
      const want = Math.abs(besselJ(h - 1, index) - (h % 2 === 0 ? -1 : 1) * besselJ(h + 1, index));
      expectClose(dftMag(got, 32 * h) / (got.length / 2), want, { atol: 1e-4 }, `harmonic ${h}`);
    }
    const mod0 = tfSynth(patch, Array.from({ length: 8 }, () => [0.7, 0]), Array(8).fill(250));
    for (let n = 0; n < mod0.length; n++) expectClose(mod0[n], 0.7 * Math.sin((2 * Math.PI * 250 * (n + 1)) / 16000), { atol: 2e-6 }, `index 0 is a sine, sample ${n}`);
  });
});

describe('reverb and spectral loss', () => {
  test('polyphase causal convolution equals the direct convolution, also block by block', () => {
    const taps = 37;
    const block = 8;
    const x = Array.from({ length: 2 * 50 }, () => uniform(-1, 1));
    const h = Array.from({ length: taps }, () => uniform(-1, 1));
    const direct = (row: number, n: number): number => {
      let s = 0;
      for (let t = 0; t < taps && t <= n; t++) s += h[t] * x[row * 50 + n - t];
      return s;
    };
    const want = Array.from({ length: 100 }, (_, i) => direct(Math.floor(i / 50), i % 50));
    noLeak(() =>
      tf.tidy(() => {
        const ht = tf.tensor1d(h);
        const whole = causalConvolve(tf.tensor2d(x, [2, 50]), ht, null, block).y.dataSync();
        assert.ok(maxAbsDiff(whole, want) < 1e-5);
        const xs = tf.tensor2d(x, [2, 50]);
        const a = causalConvolve(tf.slice(xs, [0, 0], [2, 23]) as tf.Tensor2D, ht, null, block);
        assert.deepEqual(a.history.shape, [2, convolveHistoryLength(taps, block)]);
        const b = causalConvolve(tf.slice(xs, [0, 23], [2, 27]) as tf.Tensor2D, ht, a.history, block);
        const joined = tf.concat([a.y, b.y], 1).dataSync();
        assert.ok(maxAbsDiff(joined, want) < 1e-5);
      }),
    );
  });

  test('the impulse response keeps the dry tap and decays as exp(−softplus(−decay)·500·t)·sigmoid(wet)', () => {
    noLeak(() =>
      tf.tidy(() => {
        const ir = tf.ones([16000]) as tf.Tensor1D;
        const h = reverbImpulse({ ir, decay: tf.scalar(5), wet: tf.scalar(0) }).dataSync();
        assert.equal(h[0], 1);
        const rate = 500 * Math.log1p(Math.exp(-5));
        expectClose(h[8000], 0.5 * Math.exp(-rate * 0.5), { rtol: 1e-5 });
      }),
    );
  });

  test('matrix-product STFT equals a direct DFT (centred, Hann, 1/√n), and identical signals have zero loss', () => {
    const n = 64;
    const x = Array.from({ length: 200 }, () => uniform(-1, 1));
    const mags = noLeak(() => {
      const m = tf.tidy(() => stftMagnitude(tf.tensor2d(x, [1, 200]), n).arraySync());
      disposeSpectralBases(); // the bases are cached on purpose; free them for the leak check
      return m;
    });
    assert.equal(mags.length, Math.floor(200 / 16) + 1);
    for (const frame of [0, 3, 12]) {
      const seg = Array.from({ length: n }, (_, t) => {
        const i = frame * 16 + t - n / 2;
        const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * t) / n);
        return (i >= 0 && i < 200 ? x[i] : 0) * w / Math.sqrt(n);
      });
      for (const k of [0, 5, 32]) expectClose(mags[frame][k], dftMag(seg, k), { atol: 1e-5 }, `frame ${frame} bin ${k}`);
    }
    const zero = tf.tidy(() => multiScaleSpectralLoss(tf.tensor2d(x, [1, 200]), tf.tensor2d(x, [1, 200]), [64, 128]).dataSync()[0]);
    expectClose(zero, 0, { atol: 1e-6 });
  });
});

describe('gradients', () => {
  /** Central-difference check of tf.grads along one random direction per argument. */
  function checkGrads(f: (...args: tf.Tensor[]) => tf.Scalar, params: tf.Tensor[], eps: number, tol: { atol: number; rtol: number }): void {
    const grads = tf.grads((...args: tf.Tensor[]) => f(...args))(params);
    const g = grads.map((t) => Array.from(t.dataSync()));
    for (let p = 0; p < params.length; p++) {
      const dir = Array.from({ length: params[p].size }, () => uniform(-1, 1));
      const analytic = dir.reduce((s, v, i) => s + v * g[p][i], 0);
      const shifted = (sign: number): number =>
        tf.tidy(() => f(...params.map((t, q) => (q === p ? tf.add(t, tf.mul(tf.tensor(dir, t.shape), sign * eps)) : t))).dataSync()[0]);
      expectClose(analytic, (shifted(1) - shifted(-1)) / (2 * eps), tol, `directional derivative, argument ${p}`);
    }
    tf.dispose(grads);
  }

  test('levels → upsampling → FM → reverb: gradients match central finite differences', () => {
    const patch = ddx7Patch('two-stack2');
    const frames = 8;
    const f0 = Float32Array.from({ length: frames }, () => uniform(200, 400));
    const ph = operatorPhases(f0, 1, patch.ratios, null);
    const weights = Array.from({ length: frames * DDX7_HOP }, () => uniform(-1, 1));
    // A smooth loss (linear + quadratic in the audio), so the check isolates the synth's gradients.
    const lossOf = (logits: tf.Tensor, ir: tf.Tensor, decay: tf.Tensor, wet: tf.Tensor): tf.Scalar =>
      tf.tidy(() => {
        const lv = tf.mul(tf.sigmoid(tf.reshape(logits, [1, frames, 4])), tf.tensor3d([1, 2, 1, 2], [1, 1, 4])) as tf.Tensor3D;
        const dry = fmSynth(patch, upsampleLevels(lv, null), tf.tensor3d(ph.phases, [4, 1, frames * DDX7_HOP]));
        const h = reverbImpulse({ ir: ir as tf.Tensor1D, decay: decay as tf.Scalar, wet: wet as tf.Scalar });
        const y = causalConvolve(dry, h, null, 8).y;
        return tf.add(tf.sum(tf.mul(y, tf.tensor2d(weights, [1, weights.length]))), tf.mul(tf.sum(tf.square(y)), 0.1)) as tf.Scalar;
      });
    noLeak(() => {
      const params = [tf.tensor1d(Array.from({ length: frames * 4 }, () => uniform(-1, 1))), tf.tensor1d(Array.from({ length: 40 }, () => uniform(-1, 1))), tf.scalar(0.5), tf.scalar(-0.3)];
      checkGrads((a, b, c, d) => lossOf(a, b, c, d), params, 1e-2, { atol: 1e-3, rtol: 1e-2 });
      tf.dispose(params);
    });
  });

  test('multi-scale spectral loss: gradient w.r.t. the audio matches central finite differences', () => {
    const target = tf.tensor2d(Array.from({ length: 512 }, () => uniform(-0.5, 0.5)), [1, 512]);
    const f = (x: tf.Tensor): tf.Scalar => multiScaleSpectralLoss(x as tf.Tensor2D, target, [256, 128]);
    f(target).dispose(); // caches the STFT bases
    noLeak(() => {
      const x = tf.tensor2d(Array.from({ length: 512 }, () => uniform(-0.5, 0.5)), [1, 512]);
      checkGrads(f, [x], 1e-3, { atol: 2e-3, rtol: 2e-2 });
      x.dispose();
    });
    target.dispose();
  });
});

describe('DDX7 model', () => {
  test('the paper-sized decoder: 5 blocks of 128 channels, receptive field 125 frames', () => {
    const model = createDdx7({ ...DEFAULT_DDX7_CONFIG, reverbSec: 0 });
    const count = parameterCount(model);
    disposeDdx7(model);
    assert.equal(receptiveFieldFrames(DEFAULT_DDX7_CONFIG), 125);
    // 2→128 block with 1×1 residual (50,560) + 4 × 128→128 blocks (98,560 each) + 128→6 output (774).
    assert.equal(count.decoder, 50560 + 4 * 98560 + 774);
    assert.equal(count.reverb, 0);
  });

  test('streaming block by block equals the whole-signal render within 1e-4', () => {
    const config: Ddx7Config = { ...DEFAULT_DDX7_CONFIG, patch: 'violin', channels: 8, dilations: [1, 2, 4], reverbSec: 0.02, seed: 3 };
    const model = createDdx7(config);
    const frames = 40;
    const f0 = Float32Array.from({ length: frames }, (_, k) => 300 + 40 * Math.sin(k / 5));
    const ld = Float32Array.from({ length: frames }, (_, k) => -40 + 20 * Math.cos(k / 7));
    const inputs = controlInputs(f0, ld, config);
    noLeak(() => {
      const whole = ddx7Forward(model, f0, inputs, 1);
      const want = whole.audio.dataSync();
      tf.dispose([whole.audio, whole.levels]);
      const got: number[] = [];
      let state: Ddx7State | null = null;
      let k = 0;
      for (const len of [7, 1, 13, 19]) {
        const out = ddx7Forward(model, f0.subarray(k, k + len), inputs.subarray(2 * k, 2 * (k + len)), 1, { state, keepState: true });
        got.push(...out.audio.dataSync());
        tf.dispose([out.audio, out.levels]);
        disposeDdx7State(state);
        state = out.state;
        k += len;
      }
      disposeDdx7State(state);
      assert.ok(maxAbsDiff(got, want) < 1e-4, `max |error| ${maxAbsDiff(got, want)}`);
      assert.ok(Math.max(...want.map(Math.abs)) > 1e-3, 'the render is not silent');
    });
    disposeDdx7(model);
  });
});

describe('training step', () => {
  test('updates the weights, leaks no tensor, and the learning rate decays ×0.98 per period', () => {
    const model = createDdx7({ ...DEFAULT_DDX7_CONFIG, channels: 4, dilations: [1, 2], reverbSec: 0.01 });
    const opt = createDdx7Optimizer(3e-4);
    const frames = 8;
    const f0 = new Float32Array(2 * frames).fill(330);
    const inputs = controlInputs(f0, new Float32Array(2 * frames).fill(-20), model.config);
    const target = Float32Array.from({ length: 2 * frames * DDX7_HOP }, (_, n) => 0.5 * Math.sin(n * 0.13));
    assert.ok(Number.isFinite(ddx7TrainStep(model, opt, f0, inputs, target, 2, 2))); // creates Adam's moments
    const kernel = model.vars.get('out/kernel') as tf.Variable;
    const w0 = Array.from(kernel.dataSync());
    const n = tf.memory().numTensors;
    assert.ok(Number.isFinite(ddx7TrainStep(model, opt, f0, inputs, target, 2, 2)));
    assert.equal(tf.memory().numTensors, n, 'tensor leak in a training step');
    assert.ok(maxAbsDiff(kernel.dataSync(), w0) > 0, 'the step changed the weights');
    opt.dispose();
    disposeDdx7(model);
    const schedule = { learningRate: 3e-4, decayEvery: 10, decayRate: 0.98 };
    expectClose(learningRateAt(schedule, 1), 3e-4, { rtol: 1e-12 });
    expectClose(learningRateAt(schedule, 10), 3e-4, { rtol: 1e-12 });
    expectClose(learningRateAt(schedule, 11), 3e-4 * 0.98, { rtol: 1e-12 });
    expectClose(learningRateAt(schedule, 25), 3e-4 * 0.98 * 0.98, { rtol: 1e-12 });
  });
});

describe('train-ddx7', () => {
  const tmp = tempDir('fmmatch-ddx7-test-');
  const out = path.join(tmp, 'model');
  const fixture = path.join(SHARED_DIR, 'fixtures', 'nsynth-gm');
  // Two flute notes, half-second excerpts, a 16-channel decoder and a 0.1 s reverb: seconds, not minutes.
  const small = ['--data', fixture, '--families', 'flute', '--limit', '2', '--excerpt-sec', '0.5', '--batch', '2', '--channels', '16', '--reverb-sec', '0.1', '--backend', 'wasm', '--threads', '1', '--quiet'];

  test('Ctrl-C stops within a few steps (the loop yields to the event loop), keeping model and checkpoint', { timeout: 90_000 }, async () => {
    const dir = path.join(tmp, 'model-ctrl-c');
    // No checkpoint before the end: nothing but the step loop itself can notice the signal.
    const args = [...small.filter((a) => a !== '--quiet'), '--out', dir, '--steps', '100000', '--checkpoint-every', '100000'];
    const child = spawn(process.execPath, ['--import', 'tsx', 'pipelines/train-ddx7.ts', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (!sent && /train-ddx7: +[1-9]\d*\/100000/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    // A loop that never yields would run all 100,000 steps: give up on it after a minute.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearTimeout(timer);
    assert.equal(code, 130, stderr.slice(-500));
    const m = /interrupted at step (\d+)/.exec(stderr);
    assert.ok(m && Number(m[1]) < 1000, stderr.slice(-500));
    for (const f of ['ddx7.json', 'weights.bin', 'checkpoint/state.json']) assert.ok(existsSync(path.join(dir, f)), `${f} missing`);
  });

  test('trains 3 steps on two fixture notes with a finite loss, then resumes to step 4; the model loads and renders', () => {
    const first = runCli('train-ddx7', [...small, '--out', out, '--steps', '3', '--checkpoint-every', '2']);
    assert.equal(first.status, 0, first.stderr);
    const m = /steps 1–3 of 3, loss ([\d.]+) .* ([\d.]+) steps\/s .*decoder (\d+) parameters/.exec(first.stdout);
    assert.ok(m, first.stdout);
    assert.ok(Number.isFinite(Number(m[1])) && Number(m[1]) > 0);
    for (const f of ['ddx7.json', 'weights.json', 'weights.bin', 'checkpoint/state.json', 'checkpoint/optimizer.bin']) assert.ok(existsSync(path.join(out, f)), `${f} missing`);
    const cfg = JSON.parse(readFileSync(path.join(out, 'ddx7.json'), 'utf8'));
    assert.equal(cfg.config.patch, 'flute');
    assert.equal(cfg.config.iMax, 2);
    assert.equal(cfg.features.frameRate, 250);
    const again = runCli('train-ddx7', [...small, '--out', out, '--steps', '4', '--resume']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /steps 4–4 of 4, loss [\d.]+/);
    const state = JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8'));
    assert.equal(state.losses.length, 4);
    assert.ok(state.losses.every(Number.isFinite));
    // One uninterrupted run of 4 steps on 2 threads ends with the same weights, byte for byte: the
    // dropout masks are seeded by (seed, step) and the resume restores Adam's moments.
    const twin = `${out}-twin`;
    const straight = runCli('train-ddx7', [...small, '--out', twin, '--steps', '4', '--threads', '2']);
    assert.equal(straight.status, 0, straight.stderr);
    assert.ok(readFileSync(path.join(out, 'weights.bin')).equals(readFileSync(path.join(twin, 'weights.bin'))), 'weights differ from the resumed run');

    noLeak(() => {
      const loaded = loadDdx7(out);
      const { model, file } = loaded;
      assert.equal(file.training.stepsDone, 4);
      const f0 = new Float32Array(10).fill(523.25);
      const ld = new Float32Array(10).fill(-30);
      const audio = renderDdx7(loaded, f0, ld);
      assert.equal(audio.length, 640);
      assert.ok(audio.every(Number.isFinite));
      const stream = createDdx7Stream(model);
      const joined = [...stream.process(f0.subarray(0, 4), ld.subarray(0, 4)), ...stream.process(f0.subarray(4), ld.subarray(4))];
      stream.dispose();
      assert.ok(maxAbsDiff(joined, audio) < 1e-4);
      disposeDdx7(model);
    });
  });

  test('corpus: --hop-sec overlaps excerpts; NSynth notes (metadata pitch) keep the release, only silence is skipped', async () => {
    const features = await resolveDdx7Features();
    const opts = { families: ['flute'], limit: 2, excerptSec: 1, silenceDb: -60, minConfidence: 0.85, features };
    const plain = await loadDdx7Corpus(fixture, opts);
    const hopped = await loadDdx7Corpus(fixture, { ...opts, hopSec: 0.5 });
    // A 4 s note holds 4 one-second excerpts every 1 s and 7 every 0.5 s. Each has some sound (the
    // last starts 0.5 s before the end of the release), so none is skipped.
    assert.equal(plain.excerpts.length, 2 * 4);
    assert.equal(hopped.excerpts.length, 2 * 7);
    assert.deepEqual([...plain.skipped, ...hopped.skipped], []);
    // The excerpt spanning note-off (3 s) is trained on: the decoder has to learn to fall silent.
    const release = hopped.excerpts.filter((e) => e.source.endsWith('@2.50s'));
    assert.equal(release.length, 2);
    for (const e of release) {
      assert.equal(e.audio.length, 16000);
      const late = e.loudnessDb.slice(200);
      const early = e.loudnessDb.slice(0, 100);
      assert.ok(Math.max(...late) < Math.min(...early) - 20, `${e.source}: loudness falls by > 20 dB after note-off`);
    }
    // Above the loudest frame, every excerpt is silent: a counted skip, then a one-line error.
    await assert.rejects(loadDdx7Corpus(fixture, { ...opts, silenceDb: 0 }), /no usable 1 s excerpt in 2 file\(s\) read \(excerpts skipped: 8 silent\)/);
    await assert.rejects(loadDdx7Corpus(fixture, { ...opts, hopSec: 0.001 }), /--hop-sec must be a positive multiple of 4 ms/);
  });

  test('bad input: one-line errors and counted skips', () => {
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...small, '--patch', 'kazoo', '--out', path.join(tmp, 'kazoo')]), /unknown patch 'kazoo' \(expected one of violin, flute, trumpet/);
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...small, '--out', path.join(tmp, 'long'), '--excerpt-sec', '5']), /no usable 5 s excerpt in 2 file\(s\) read \(files skipped: 2 too short\)/);
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...small, '--out', out, '--steps', '5', '--batch', '3', '--resume']), /other options/);
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...small, '--out', out]), /already holds a training run/);
    // Another tool's checkpoint (a train-cnn state.json) is named as such, not as "other options".
    const foreign = path.join(tmp, 'foreign');
    mkdirSync(path.join(foreign, 'checkpoint'), { recursive: true });
    writeFileSync(path.join(foreign, 'checkpoint', 'state.json'), JSON.stringify({ config: { epochs: 3 }, datasetHash: 'sha256:0', epochsDone: 1, history: [] }));
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...small, '--out', foreign, '--resume']), /not a train-ddx7 checkpoint/);
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...small, '--out', path.join(tmp, 'no-run'), '--resume']), /no checkpoint to resume/);
    assert.ok(!existsSync(path.join(tmp, 'no-run')), 'a failed --resume created its --out');
    writeFileSync(path.join(foreign, 'checkpoint', 'state.json'), '{');
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...small, '--out', foreign, '--resume']), /foreign\/checkpoint\/state\.json: corrupt checkpoint/);
    const silent = path.join(tmp, 'silent');
    mkdirSync(silent);
    writeFileSync(path.join(silent, 'quiet.wav'), encodeWavPcm16(new Float32Array(16000), 16000));
    writeFileSync(path.join(silent, 'broken.wav'), 'RIFF nonsense');
    assertOneLineError('train-ddx7', runCli('train-ddx7', ['--data', silent, '--out', path.join(tmp, 'm-silent'), '--quiet']), /no usable 1 s excerpt in 1 file\(s\) read \(files skipped: 1 unreadable, 1 silent; first unreadable: broken\.wav: not a WAV file/);
  });
});

describe('train-ddx7: --out guard, the corpus a resume must match, files skipped', () => {
  const tmp = tempDir('fmmatch-ddx7-guard-');
  const fixture = path.join(SHARED_DIR, 'fixtures', 'nsynth-gm');
  // Half-second excerpts, 16 channels, a 0.1 s reverb, one step: a few seconds per run.
  const tiny = ['--excerpt-sec', '0.5', '--batch', '2', '--channels', '16', '--reverb-sec', '0.1', '--backend', 'wasm', '--threads', '1', '--quiet'];

  /** A 440 Hz sine of amplitude 0.5 for `toneSec`, then silence, `totalSec` long, at `sampleRate`. */
  function toneThenSilence(toneSec: number, totalSec: number, sampleRate = 16000, hz = 440): Float32Array {
    const x = new Float32Array(Math.round(totalSec * sampleRate));
    for (let i = 0; i < toneSec * sampleRate; i++) x[i] = 0.5 * Math.sin((2 * Math.PI * hz * i) / sampleRate);
    return x;
  }

  /** A 16-bit PCM stereo WAV written by hand (encodeWavPcm16 writes mono only). */
  function stereoWav(x: Float32Array, sampleRate: number): Uint8Array {
    const buf = Buffer.alloc(44 + 4 * x.length);
    buf.write('RIFF', 0, 'ascii');
    buf.writeUInt32LE(36 + 4 * x.length, 4);
    buf.write('WAVEfmt ', 8, 'ascii');
    buf.writeUInt32LE(16, 16);
    buf.writeUInt16LE(1, 20);
    buf.writeUInt16LE(2, 22);
    buf.writeUInt32LE(sampleRate, 24);
    buf.writeUInt32LE(sampleRate * 4, 28);
    buf.writeUInt16LE(4, 32);
    buf.writeUInt16LE(16, 34);
    buf.write('data', 36, 'ascii');
    buf.writeUInt32LE(4 * x.length, 40);
    for (let i = 0; i < x.length; i++) {
      const v = Math.round(x[i] * 32767);
      buf.writeInt16LE(v, 44 + 4 * i);
      buf.writeInt16LE(v, 46 + 4 * i);
    }
    return new Uint8Array(buf);
  }

  test('--out: a train-cnn folder, a gen-dataset folder and a file are refused in one line and left as they were', () => {
    const args = ['--data', fixture, '--families', 'flute', '--limit', '1', '--steps', '2', ...tiny];
    const cnn = path.join(tmp, 'cnn');
    mkdirSync(cnn);
    const weights = new Uint8Array(256).map((_, i) => (i * 37) & 255);
    writeFileSync(path.join(cnn, 'weights.bin'), weights);
    writeFileSync(path.join(cnn, 'model.json'), '{"format":"layers-model"}');
    writeFileSync(path.join(cnn, 'targets.json'), '{}');
    writeFileSync(path.join(cnn, 'config.json'), '{"format":"fmmatch-cnn"}');
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...args, '--out', cnn]), /--out .*\/cnn is not empty and is not a train-ddx7 folder \(it looks like a train-cnn model folder: config\.json, model\.json/);
    assert.ok(readFileSync(path.join(cnn, 'weights.bin')).equals(weights), "the CNN's weights.bin was changed");
    assert.deepEqual(readdirSync(cnn).sort(), ['config.json', 'model.json', 'targets.json', 'weights.bin']);

    const dataset = path.join(tmp, 'dataset');
    mkdirSync(path.join(dataset, 'audio'), { recursive: true });
    writeFileSync(path.join(dataset, 'manifest.json'), '{}');
    writeFileSync(path.join(dataset, 'params.csv'), 'id,file\n');
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...args, '--out', dataset]), /--out .*\/dataset is not empty and is not a train-ddx7 folder \(it looks like a gen-dataset folder/);
    assert.deepEqual(readdirSync(dataset).sort(), ['audio', 'manifest.json', 'params.csv']);

    const other = path.join(tmp, 'other');
    mkdirSync(other);
    writeFileSync(path.join(other, 'notes.txt'), 'mine');
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...args, '--out', other]), /--out .*\/other is not empty and is not a train-ddx7 folder \(it holds notes\.txt\)/);

    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'not a folder');
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...args, '--out', file]), /--out .*\/a-file is a file, not a folder/);
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...args, '--out', file, '--resume']), /--out .*\/a-file is a file, not a folder/);
    assert.equal(readFileSync(file, 'utf8'), 'not a folder');

    // A run stopped while writing its first checkpoint (weights and optimizer written, state.json
    // not yet): a fresh run takes the folder over; a foreign file in checkpoint/ keeps it refused.
    const partial = path.join(tmp, 'partial');
    mkdirSync(path.join(partial, 'checkpoint'), { recursive: true });
    for (const f of ['weights.json', 'weights.bin', 'optimizer.json']) writeFileSync(path.join(partial, 'checkpoint', f), '{}');
    const r = runCli('train-ddx7', [...args, '--out', partial]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(path.join(partial, 'ddx7.json')));
    const foreign = path.join(tmp, 'foreign-ckpt');
    mkdirSync(path.join(foreign, 'checkpoint'), { recursive: true });
    writeFileSync(path.join(foreign, 'checkpoint', 'weights.json'), '{}');
    writeFileSync(path.join(foreign, 'checkpoint', 'notes.txt'), 'mine');
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...args, '--out', foreign]), /is not empty and is not a train-ddx7 folder/);
    assert.equal(readFileSync(path.join(foreign, 'checkpoint', 'notes.txt'), 'utf8'), 'mine');
  });

  test('bad WAVs are named one line each, counted apart from silent and unpitched excerpts, and listed in skipped.csv', () => {
    const wavs = path.join(tmp, 'wavs');
    mkdirSync(wavs);
    // good.wav: 0.5 s of tone, then 1.5 s of silence. Cut into 0.5 s excerpts: the first is the
    // tone (kept), the second holds only the tone's loudness tail (−43 dB peak, f0 confidence
    // 0.04: unpitched), the last two are digital silence (−80 dB: silent).
    const tone = toneThenSilence(0.5, 2);
    writeFileSync(path.join(wavs, 'good.wav'), encodeWavPcm16(tone, 16000));
    writeFileSync(path.join(wavs, 'stereo.wav'), stereoWav(tone, 16000));
    writeFileSync(path.join(wavs, 'rate44k.wav'), encodeWavPcm16(toneThenSilence(0.5, 2, 44100), 44100));
    const corrupt = encodeWavPcm16(tone, 16000);
    corrupt.set([0x78, 0x78, 0x78, 0x78], 12); // the 'fmt ' chunk's id
    writeFileSync(path.join(wavs, 'corrupt.wav'), corrupt);
    writeFileSync(path.join(wavs, 'truncated.wav'), encodeWavPcm16(tone, 16000).subarray(0, 44 + 20000));

    // An existing empty folder is a fine --out.
    const out = path.join(tmp, 'm-wavs');
    mkdirSync(out);
    const r = runCli('train-ddx7', ['--data', wavs, '--out', out, '--steps', '1', ...tiny]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('train-ddx7:'));
    const expected: [string, RegExp][] = [
      ['corrupt.wav', /corrupt WAV file/],
      ['rate44k.wav', /is 44100 Hz, expected 16000 Hz/],
      ['stereo.wav', /has 2 channels, expected mono/],
      ['truncated.wav', /truncated WAV file \(data chunk announces 64000 bytes, 20000 present\)/],
    ];
    assert.equal(lines.length, expected.length, r.stderr);
    expected.forEach(([file, reason], i) => {
      assert.ok(lines[i].startsWith(`train-ddx7: skipped ${file} (unreadable): `), lines[i]);
      assert.match(lines[i], reason);
    });
    assert.match(r.stdout, /1 excerpts from 1 files read, 4 files skipped, 3 excerpts skipped \(2 silent, 1 unpitched\), listed in skipped\.csv/);
    const csv = readFileSync(path.join(out, 'skipped.csv'), 'utf8').trim().split('\n');
    assert.equal(csv[0], 'id,reason');
    // `id,reason`, the reason quoted when it holds a comma; it starts with the kind.
    assert.deepEqual(
      csv.slice(1).map((l) => {
        const comma = l.indexOf(',');
        return `${l.slice(0, comma)} ${l.slice(comma + 1).replace(/^"/, '').split(':')[0]}`;
      }),
      ['corrupt.wav unreadable', 'good.wav@0.50s unpitched excerpt', 'good.wav@1.00s silent excerpt', 'good.wav@1.50s silent excerpt', 'rate44k.wav unreadable', 'stereo.wav unreadable', 'truncated.wav unreadable'],
    );

    // Nothing usable: the bad files are still named, then one error line that counts them.
    const bad = path.join(tmp, 'bad-wavs');
    mkdirSync(bad);
    writeFileSync(path.join(bad, 'stereo.wav'), stereoWav(tone, 16000));
    writeFileSync(path.join(bad, 'quiet.wav'), encodeWavPcm16(new Float32Array(16000), 16000));
    const f = runCli('train-ddx7', ['--data', bad, '--out', path.join(tmp, 'm-bad'), ...tiny]);
    assertOneLineError('train-ddx7', f, /no usable 0\.5 s excerpt in 1 file\(s\) read \(files skipped: 1 unreadable, 1 silent; first unreadable: stereo\.wav: has 2 channels/);
    assert.match(f.stderr, /^train-ddx7: skipped quiet\.wav \(silent file\): no frame reaches -60 dB$/m);
    assert.match(f.stderr, /^train-ddx7: skipped stereo\.wav \(unreadable\): has 2 channels, expected mono$/m);
    assert.ok(!existsSync(path.join(tmp, 'm-bad')), 'a failed run made its --out');
  });

  test('NSynth: a missing WAV and a note without pitch are file skips, named', async () => {
    const ns = path.join(tmp, 'nsynth');
    mkdirSync(path.join(ns, 'audio'), { recursive: true });
    const all = JSON.parse(readFileSync(path.join(fixture, 'examples.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    const [a, b, c] = Object.keys(all).filter((k) => all[k].instrument_family_str === 'flute');
    const { pitch: _dropped, ...noPitch } = all[c];
    writeFileSync(path.join(ns, 'examples.json'), JSON.stringify({ [a]: all[a], [b]: all[b], [c]: noPitch }));
    for (const k of [a, c]) writeFileSync(path.join(ns, 'audio', `${k}.wav`), readFileSync(path.join(fixture, 'audio', `${k}.wav`)));
    const named: string[] = [];
    const corpus = await loadDdx7Corpus(ns, { excerptSec: 1, silenceDb: -60, minConfidence: 0.85, features: await resolveDdx7Features(), onFileSkip: (s) => named.push(`${s.source} ${s.kind}: ${s.reason}`) });
    assert.equal(corpus.files, 1);
    // The 4 s note gives four 1 s excerpts, none silent (see the corpus test above).
    assert.equal(corpus.excerpts.length, 4);
    assert.equal(named.length, 2, named.join('\n'));
    assert.match(named.find((s) => s.startsWith(b)) ?? '', new RegExp(`unreadable: audio/${b}\\.wav: missing`));
    assert.match(named.find((s) => s.startsWith(c)) ?? '', /unreadable: examples\.json: .*pitch/);
    assert.deepEqual(corpus.skipped.map((s) => s.kind), ['unreadable', 'unreadable']);
    // --limit counts the notes tried, unreadable ones included: the first two are a (read) and b (missing).
    const limited = await loadDdx7Corpus(ns, { excerptSec: 1, silenceDb: -60, minConfidence: 0.85, limit: 2, features: await resolveDdx7Features() });
    assert.equal(limited.files, 1);
    assert.deepEqual(limited.skipped.map((s) => s.source), [b]);
  });

  test('--resume refuses another corpus, naming the option; the same excerpts under other thresholds continue', () => {
    // NSynth: --families is recorded, as are --limit and --data.
    const ns = path.join(tmp, 'm-flute');
    const base = ['--data', fixture, '--families', 'flute', '--limit', '1', ...tiny];
    const first = runCli('train-ddx7', [...base, '--out', ns, '--steps', '1']);
    assert.equal(first.status, 0, first.stderr);
    const file = JSON.parse(readFileSync(path.join(ns, 'ddx7.json'), 'utf8'));
    assert.equal(file.training.corpus.data, fixture);
    assert.deepEqual(file.training.corpus.families, ['flute']);
    assert.equal(file.training.corpus.limit, 1);
    // A 4 s note holds eight 0.5 s excerpts: the corpus is those kept, the silent ones are counted apart.
    const m = /(\d+) excerpts from 1 files read, 0 files skipped, (\d+) excerpts skipped \((\d+) silent, 0 unpitched\)/.exec(first.stdout);
    assert.ok(m, first.stdout);
    assert.equal(Number(m[1]) + Number(m[3]), 8);
    assert.equal(file.training.corpus.excerpts, Number(m[1]));
    assert.match(file.training.corpus.excerptHash, /^sha256:[0-9a-f]{64}$/);
    const resume = (args: string[]): ReturnType<typeof runCli> => runCli('train-ddx7', [...args, '--out', ns, '--steps', '2', '--resume']);
    assertOneLineError('train-ddx7', resume(['--data', fixture, '--families', 'brass', '--limit', '1', ...tiny]), /trained on another corpus \(checkpoint vs this run: --families flute vs brass;/);
    assertOneLineError('train-ddx7', resume(['--data', fixture, '--families', 'flute', '--limit', '2', ...tiny]), /--limit 1 vs 2;/);
    assertOneLineError('train-ddx7', resume(['--data', fixture, '--limit', '1', ...tiny]), /--families flute vs \(all\);/);

    // WAV folder: two 1 s tones (four 0.5 s excerpts). The checkpoint holds their hash, so a changed file is caught even
    // when every option is the same.
    const wavs = path.join(tmp, 'two-wavs');
    mkdirSync(wavs);
    writeFileSync(path.join(wavs, 'a.wav'), encodeWavPcm16(toneThenSilence(1, 1), 16000));
    writeFileSync(path.join(wavs, 'b.wav'), encodeWavPcm16(toneThenSilence(1, 1, 16000, 660), 16000));
    const out = path.join(tmp, 'm-two');
    const wavArgs = ['--data', wavs, ...tiny];
    assert.equal(runCli('train-ddx7', [...wavArgs, '--out', out, '--steps', '1']).status, 0);
    const resumeWav = (args: string[], dir = out): ReturnType<typeof runCli> => runCli('train-ddx7', [...args, '--out', dir, '--steps', '2', '--resume']);
    assertOneLineError('train-ddx7', resumeWav([...wavArgs, '--limit', '1']), /--limit \(none\) vs 1;/);
    const copy = path.join(tmp, 'two-wavs-copy');
    cpSync(wavs, copy, { recursive: true });
    writeFileSync(path.join(copy, 'b.wav'), encodeWavPcm16(toneThenSilence(1, 1, 16000, 330), 16000));
    assertOneLineError('train-ddx7', resumeWav(['--data', copy, ...tiny]), new RegExp(`--data ${wavs} vs ${copy};`));
    writeFileSync(path.join(copy, 'b.wav'), readFileSync(path.join(wavs, 'b.wav')));
    // A checkpoint from before the corpus was recorded cannot be checked: refused, not trusted.
    const old = path.join(tmp, 'm-old');
    cpSync(out, old, { recursive: true });
    const statePath = path.join(old, 'checkpoint', 'state.json');
    const { corpus: _corpus, ...oldState } = JSON.parse(readFileSync(statePath, 'utf8'));
    writeFileSync(statePath, JSON.stringify(oldState));
    assertOneLineError('train-ddx7', resumeWav(wavArgs, old), /does not record its corpus/);
    // Same bytes under another path and another silence threshold (both tones are far above it):
    // the same excerpts, so the run continues.
    const same = resumeWav(['--data', copy, '--silence-db', '-70', ...tiny]);
    assert.equal(same.status, 0, same.stderr);
    assert.match(same.stdout, /steps 2–2 of 2/);
    // The same folder and options, one file changed since: named by its hash, not by an option.
    writeFileSync(path.join(wavs, 'b.wav'), encodeWavPcm16(toneThenSilence(1, 1, 16000, 330), 16000));
    assertOneLineError('train-ddx7', runCli('train-ddx7', [...wavArgs, '--out', out, '--steps', '3', '--resume']), new RegExp(`--data ${wavs} no longer gives the checkpoint's excerpts \\(4 excerpts from 2 files then, 4 from 2 now; content hash differs\\)`));
  });
});
