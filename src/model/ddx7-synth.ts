/**
 * The differentiable parts of DDX7 (Caspe et al. 2022) in TensorFlow.js: frame-rate controls
 * upsampled to audio rate, the fixed-routing FM synth, the learnable reverb and the multi-scale
 * spectral loss. Every op here has a gradient on the wasm backend (no FFT, no gather): the STFT is
 * a matrix product with windowed cos/sin bases and the reverb is a polyphase convolution.
 *
 * Conventions (shared by the float64 reference in test/ddx7.test.ts):
 * - Controls are given per frame at 250 frames/s (hop 64 at 16 kHz). Samples k·hop … k·hop + hop − 1
 *   ramp linearly from frame k − 1 to frame k (reaching frame k on the block's last sample), with
 *   frame −1 = frame 0 at the start of a signal. This is causal: audio of frames [k0, k1) needs only
 *   frames k0 − 1 … k1 − 1, so streaming rendering carries one frame. It delays the controls by one
 *   hop (4 ms) against a centred interpolation, which is immaterial at 250 frames/s.
 * - Phase: ω[n] = Σ_{m ≤ n} 2π·f0[m]/sr (rad, f0 upsampled as above). f0 is an input, never learned,
 *   so ratio_i·ω is computed on the host in float64 and wrapped to [0, 2π) before it becomes float32:
 *   a float32 cumsum drifts audibly within seconds, and wrapping ω itself would break non-integer
 *   ratios (1.5, 3.2, 8.5), the failure the reference code warns about in its cumsum_nd.
 * - Operator i: phase_i = ratio_i·ω + Σ_{j modulates i} out_j, out_i = ol_i·sin(phase_i). Modulator
 *   levels are modulation indices in radians (paper eq. 4, A_max = I_max); the reference code
 *   scales them by 1/2π and multiplies by 2π in the phase, which is the same function.
 * - Output: Σ carriers out_i divided by the carriers' maximum level. The reference code divides by
 *   its constant max_ol because its carrier levels live in [0, max_ol]; ours live in [0, 1] (A_max = 1),
 *   so the divisor is 1 and two carriers (violin) can reach ±2, as in the reference.
 */
import * as tf from '@tensorflow/tfjs';
import { type Ddx7Patch, modulatorsOf, operatorCount } from '../synth/ddx7-patches.ts';

/** Audio sample rate of DDX7 (and NSynth), Hz. */
export const DDX7_SAMPLE_RATE = 16000;
/** Samples per control frame: 250 frames/s at 16 kHz. */
export const DDX7_HOP = 64;
/** FFT sizes of the multi-scale spectral loss (paper §4.1). */
export const MSS_FFT_SIZES: readonly number[] = Object.freeze([2048, 1024, 512, 256, 128, 64]);

// ---------------------------------------------------------------- upsampling and phase (host + tensor)

/**
 * Linear upsampling of frame-rate controls to audio rate (see the module comment for the ramp).
 * Broadcast products and a reshape: differentiable on every backend, no conv-transpose.
 *
 * @param frames controls [batch, frames, channels]
 * @param prev the frame before the first, [batch, 1, channels]; `null` at the start of a signal (frame 0 is repeated)
 * @param hop samples per frame
 * @returns [batch, frames·hop, channels]
 */
export function upsampleFrames(frames: tf.Tensor3D, prev: tf.Tensor3D | null, hop: number = DDX7_HOP): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, f, c] = frames.shape;
    const first = prev ?? tf.slice(frames, [0, 0, 0], [b, 1, c]);
    const before = f > 1 ? tf.concat([first, tf.slice(frames, [0, 0, 0], [b, f - 1, c])], 1) : first;
    const w = tf.tensor4d(Float32Array.from({ length: hop }, (_, j) => (j + 1) / hop), [1, 1, hop, 1]);
    const a = tf.reshape(before, [b, f, 1, c]);
    const d = tf.sub(tf.reshape(frames, [b, f, 1, c]), a);
    return tf.reshape(tf.add(a, tf.mul(d, w)), [b, f * hop, c]) as tf.Tensor3D;
  });
}

/**
 * {@link upsampleFrames} to the operator-major layout {@link fmSynth} takes.
 *
 * @param levels [batch, frames, operators]
 * @param prev the frame before the first, [batch, 1, operators], or null
 * @returns [operators, batch, frames·hop]
 */
export function upsampleLevels(levels: tf.Tensor3D, prev: tf.Tensor3D | null, hop: number = DDX7_HOP): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, f, c] = levels.shape;
    // Transposed at frame rate, where it is 64× cheaper than at audio rate.
    const opMajor = (t: tf.Tensor3D, frames: number): tf.Tensor3D => tf.reshape(tf.transpose(t, [2, 0, 1]), [c * b, frames, 1]);
    const up = upsampleFrames(opMajor(levels, f), prev === null ? null : opMajor(prev, 1), hop);
    return tf.reshape(up, [c, b, f * hop]);
  });
}

/** Oscillator state carried between blocks of one signal (per batch item). */
export interface PhaseState {
  /** Accumulated shared phase ω after the last sample, rad (float64, unwrapped). */
  readonly omega: Float64Array;
  /** The last f0 frame, Hz (the ramp's start for the next block). */
  readonly lastF0Hz: Float64Array;
}

/**
 * Operator phases ratio_i·ω[n] mod 2π, computed in float64 on the host (f0 is data).
 *
 * @param f0Hz f0 per frame, Hz, [batch, frames] row-major
 * @param batch batch size
 * @param ratios frequency ratio per operator
 * @param state phase after the previous block; `null` at the start (ω starts at 0, frame −1 = frame 0)
 * @returns phases [operators, batch, frames·hop] row-major (rad in [0, 2π); operator-major so each
 *   operator is a contiguous slice) and the state after the block
 */
export function operatorPhases(
  f0Hz: Float32Array | Float64Array, batch: number, ratios: readonly number[], state: PhaseState | null,
  sampleRate: number = DDX7_SAMPLE_RATE, hop: number = DDX7_HOP,
): { phases: Float32Array; state: PhaseState } {
  if (f0Hz.length % batch !== 0) throw new Error(`operatorPhases: ${f0Hz.length} f0 values do not split into ${batch} rows`);
  const frames = f0Hz.length / batch;
  const n = frames * hop;
  const ops = ratios.length;
  const out = new Float32Array(batch * n * ops);
  const omegaOut = new Float64Array(batch);
  const lastOut = new Float64Array(batch);
  const twoPi = 2 * Math.PI;
  for (let b = 0; b < batch; b++) {
    let omega = state?.omega[b] ?? 0;
    let prev = state?.lastF0Hz[b] ?? f0Hz[b * frames];
    for (let k = 0; k < frames; k++) {
      const cur = f0Hz[b * frames + k];
      for (let j = 0; j < hop; j++) {
        const f = prev + ((cur - prev) * (j + 1)) / hop;
        omega += (twoPi * f) / sampleRate;
        const at = b * n + k * hop + j;
        for (let i = 0; i < ops; i++) {
          const p = ratios[i] * omega;
          out[i * batch * n + at] = p - twoPi * Math.floor(p / twoPi);
        }
      }
      prev = cur;
    }
    omegaOut[b] = omega;
    lastOut[b] = prev;
  }
  return { phases: out, state: { omega: omegaOut, lastF0Hz: lastOut } };
}

// ---------------------------------------------------------------- FM synth

/**
 * The fixed-routing FM synth (paper §3.1): operators rendered from the highest number down, each
 * phase-modulated by the sum of its modulators' outputs; carriers summed.
 *
 * @param levels output level per operator at audio rate, [operators, batch, samples]
 *   (carriers: amplitude in [0, 1]; modulators: modulation index, rad). Operator-major: splitting
 *   the last axis of a [batch, samples, operators] tensor (and its gradient, a stack) is a strided
 *   copy that cost more than the synth itself on wasm.
 * @param phases ratio_i·ω per operator from {@link operatorPhases}, rad, [operators, batch, samples]
 * @returns audio [batch, samples]
 */
export function fmSynth(patch: Ddx7Patch, levels: tf.Tensor3D, phases: tf.Tensor3D): tf.Tensor2D {
  const n = operatorCount(patch);
  if (levels.shape[0] !== n || phases.shape[0] !== n) throw new Error(`fmSynth: patch ${patch.name} has ${n} operators, got levels [${levels.shape}] and phases [${phases.shape}]`);
  return tf.tidy(() => {
    // split + reshape rather than unstack: wasm's Unpack (and Pack, unstack's gradient) are slow.
    const [, b, len] = levels.shape;
    const lv = tf.split(levels, n, 0).map((t) => tf.reshape(t, [b, len]) as tf.Tensor2D);
    const ph = tf.split(phases, n, 0).map((t) => tf.reshape(t, [b, len]) as tf.Tensor2D);
    const out: tf.Tensor2D[] = new Array(n);
    for (let op = n; op >= 1; op--) {
      let p = ph[op - 1];
      for (const m of modulatorsOf(patch, op)) p = tf.add(p, out[m - 1]);
      out[op - 1] = tf.mul(lv[op - 1], tf.sin(p));
    }
    // Carrier levels are in [0, A_max = 1]: dividing by the maximum level is dividing by 1.
    return tf.addN(patch.carriers.map((c) => out[c - 1])) as tf.Tensor2D;
  });
}

// ---------------------------------------------------------------- reverb

/** Learnable reverb parameters (DDSP's reverb as DDX7 uses it, paper §3.3). */
export interface ReverbParams {
  /** Raw impulse response, [taps]; initialised uniform in [−1, 1]. Tap 0 is replaced by the dry path. */
  readonly ir: tf.Tensor1D;
  /** Decay logit, scalar; initialised 5. */
  readonly decay: tf.Scalar;
  /** Wet-gain logit, scalar; initialised 0. */
  readonly wet: tf.Scalar;
}

/**
 * The reverb's impulse response: ir[n]·exp(−softplus(−decay)·500·t)·sigmoid(wet), t = n/sr in
 * seconds, with tap 0 fixed at 1 (the dry path). The reference uses t = linspace(0, 1, sr) over
 * its 1 s response, i.e. the same t; a shorter response is the same envelope truncated.
 *
 * @returns [taps]
 */
export function reverbImpulse(p: ReverbParams, sampleRate: number = DDX7_SAMPLE_RATE): tf.Tensor1D {
  return tf.tidy(() => {
    const taps = p.ir.shape[0];
    const t = tf.tensor1d(Float32Array.from({ length: taps }, (_, i) => i / sampleRate));
    const env = tf.exp(tf.mul(tf.mul(tf.softplus(tf.neg(p.decay)), -500), t));
    const wet = tf.mul(tf.mul(p.ir, env), tf.sigmoid(p.wet));
    return tf.concat([tf.ones([1]), tf.slice(wet, [1], [taps - 1])]) as tf.Tensor1D;
  });
}

/** Default polyphase block of {@link causalConvolve}, samples. */
export const REVERB_BLOCK = 128;

/** Block taps of the polyphase filter for an impulse response of `taps` samples in blocks of `block`. */
export function polyphaseTaps(taps: number, block: number): number {
  return Math.floor((taps + block - 2) / block) + 1;
}

/** Samples of past input {@link causalConvolve} carries between blocks. */
export function convolveHistoryLength(taps: number, block: number = REVERB_BLOCK): number {
  return (polyphaseTaps(taps, block) - 1) * block;
}

/**
 * Causal convolution y[n] = Σ_t h[t]·x[n − t] without an FFT (tfjs has none on wasm), as a
 * polyphase convolution: the signal cut into blocks of P samples is convolved over blocks with
 * A = ⌊(L + P − 2)/P⌋ + 1 block taps H_a[b, j] = h[aP + j − b], a P-in/P-out conv1d that XNNPACK
 * runs as matrix products. Cost ≈ N·(L + 2P) multiply-adds, the direct convolution's.
 *
 * @param x signal [batch, samples]
 * @param h impulse response [taps]
 * @param history the last {@link convolveHistoryLength} input samples before `x`, [batch, history]; `null` = silence
 * @param block P, samples (a power of two ≥ 8 keeps the matrices aligned)
 * @returns y [batch, samples] and the history after `x`
 */
export function causalConvolve(x: tf.Tensor2D, h: tf.Tensor1D, history: tf.Tensor2D | null, block: number = REVERB_BLOCK): { y: tf.Tensor2D; history: tf.Tensor2D } {
  return tf.tidy(() => convolvePolyphase(x, polyphaseFilter(h, block), history));
}

/**
 * The polyphase filter of {@link causalConvolve}: [A, P, P] conv1d taps, H_a[b, j] = h[aP + j − b],
 * in correlation order. Built from P slices (no gather: it has no gradient on wasm). Inference
 * builds it once per stream, since the weights do not change between blocks.
 *
 * @param h impulse response [taps]
 * @param block P, samples
 */
export function polyphaseFilter(h: tf.Tensor1D, block: number = REVERB_BLOCK): tf.Tensor3D {
  return tf.tidy(() => {
    const taps = h.shape[0];
    const p = block;
    const a = polyphaseTaps(taps, p);
    // With hr = reverse(h shifted right by P, length (A + 1)·P), the correlation-order filter with
    // its output phase j reversed is F[w, b, P − 1 − j] = h[(A − 1 − w)P + j − b] = hr[wP + (P − 1 − j) + b]:
    // row b of the Hankel matrix G[b, q] = hr[q + b], q < A·P. G comes from P tiled copies of hr
    // read with a row stride of len + 1 (each row starts one sample later). Reversing the short
    // 1-D h and, in convolvePolyphase, each output block is far cheaper than reversing the filter,
    // and the gradients of broadcast/slice/reshape are plain copies and sums, whereas assembling P rows
    // with stack or concat costs a P-way Unpack/SplitV in the gradient, which is slow on wasm.
    const len = (a + 1) * p;
    const hr = tf.reverse(tf.pad(h, [[p, a * p - taps]]));
    // P copies by a broadcast product, whose gradient is one sum (tf.tile's is P slices and adds).
    const copies = tf.reshape(tf.mul(tf.ones([p, 1]), tf.reshape(hr, [1, len])), [p * len]);
    const tiled = tf.pad(copies, [[0, p]]);
    const hankel = tf.slice(tf.reshape(tiled, [p, len + 1]), [0, 0], [p, a * p]);
    return tf.transpose(tf.reshape(hankel, [p, a, p]), [1, 0, 2]) as tf.Tensor3D;
  });
}

/**
 * {@link causalConvolve} with a prebuilt {@link polyphaseFilter}.
 *
 * @param x signal [batch, samples]
 * @param filter [A, P, P] from {@link polyphaseFilter} (output phases reversed)
 * @param history the last (A − 1)·P input samples, [batch, (A − 1)·P]; `null` = silence
 */
export function convolvePolyphase(x: tf.Tensor2D, filter: tf.Tensor3D, history: tf.Tensor2D | null): { y: tf.Tensor2D; history: tf.Tensor2D } {
  return tf.tidy(() => {
    const [b, n] = x.shape;
    const [a, p] = filter.shape;
    const hLen = (a - 1) * p;
    if (history !== null && (history.shape[0] !== b || history.shape[1] !== hLen)) throw new Error(`causalConvolve: history must be [${b}, ${hLen}], got [${history.shape}]`);
    const past = history ?? tf.zeros([b, hLen]);
    const padRight = (p - (n % p)) % p;
    const full = tf.concat([past, x, tf.zeros([b, padRight])], 1);
    const blocks = tf.reshape(full, [b, (hLen + n + padRight) / p, p]) as tf.Tensor3D;
    const yBlocks = tf.reverse(tf.conv1d(blocks, filter, 1, 'valid'), 2); // undo the filter's reversed output phases
    const y = tf.slice(tf.reshape(yBlocks, [b, n + padRight]), [0, 0], [b, n]) as tf.Tensor2D;
    const joined = tf.concat([past, x], 1);
    const nextHistory = tf.slice(joined, [0, n], [b, hLen]) as tf.Tensor2D;
    return { y, history: nextHistory };
  });
}

// ---------------------------------------------------------------- multi-scale spectral loss

const bases = new Map<number, { basis: tf.Tensor2D; basisT: tf.Tensor2D }>();

/** Windowed DFT basis for one FFT size: [n, 2·(n/2 + 1)] (cos | −sin columns) and its transpose. */
function dftBasis(n: number): { basis: tf.Tensor2D; basisT: tf.Tensor2D } {
  let e = bases.get(n);
  if (e === undefined) {
    const bins = n / 2 + 1;
    const m = new Float32Array(n * 2 * bins);
    const mt = new Float32Array(n * 2 * bins);
    // Periodic Hann, and torch.stft(normalized=True)'s 1/√n, as in the reference code.
    const norm = 1 / Math.sqrt(n);
    for (let t = 0; t < n; t++) {
      const w = (0.5 - 0.5 * Math.cos((2 * Math.PI * t) / n)) * norm;
      for (let k = 0; k < bins; k++) {
        const ang = (2 * Math.PI * ((k * t) % n)) / n;
        const c = w * Math.cos(ang);
        const s = -w * Math.sin(ang);
        m[t * 2 * bins + k] = c;
        m[t * 2 * bins + bins + k] = s;
        mt[k * n + t] = c;
        mt[(bins + k) * n + t] = s;
      }
    }
    e = { basis: tf.keep(tf.tensor2d(m, [n, 2 * bins])), basisT: tf.keep(tf.tensor2d(mt, [2 * bins, n])) };
    bases.set(n, e);
  }
  return e;
}

/** Frees the cached STFT bases (they are kept between calls; tests call this before counting tensors). */
export function disposeSpectralBases(): void {
  for (const e of bases.values()) {
    e.basis.dispose();
    e.basisT.dispose();
  }
  bases.clear();
}

/**
 * x·B for a constant B with a plain (untransposed) product in the backward pass too: tfjs's MatMul
 * gradient multiplies by Bᵀ through a transposed-operand product, 5–14× slower on wasm.
 */
function matMulConst(x: tf.Tensor2D, basis: tf.Tensor2D, basisT: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const a = args[0] as tf.Tensor2D;
    return { value: tf.matMul(a, basis), gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, basisT) };
  });
  return f(x) as tf.Tensor2D;
}

/**
 * Magnitude STFT as a matrix product: zero-padded by n/2 on both sides (centred frames, as
 * torch.stft's center=True but with zeros instead of reflection), periodic Hann, hop n/4 (75 %
 * overlap), scaled by 1/√n.
 *
 * @param x audio [batch, samples]
 * @param n FFT size (multiple of 4)
 * @returns magnitudes [batch·frames, n/2 + 1]
 */
export function stftMagnitude(x: tf.Tensor2D, n: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, len] = x.shape;
    const hop = n / 4;
    const frames = Math.floor(len / hop) + 1;
    const total = (frames + 3) * hop;
    const padded = tf.pad(x, [[0, 0], [n / 2, total - len - n / 2]]);
    const blocks = tf.reshape(padded, [b, frames + 3, hop]);
    const framed = tf.concat([0, 1, 2, 3].map((o) => tf.slice(blocks, [0, o, 0], [b, frames, hop])), 2);
    const { basis, basisT } = dftBasis(n);
    const spec = matMulConst(tf.reshape(framed, [b * frames, n]) as tf.Tensor2D, basis, basisT);
    const bins = n / 2 + 1;
    const re = tf.slice(spec, [0, 0], [b * frames, bins]);
    const im = tf.slice(spec, [0, bins], [b * frames, bins]);
    return tf.sqrt(tf.add(tf.add(tf.square(re), tf.square(im)), 1e-12)) as tf.Tensor2D;
  });
}

/**
 * Multi-scale spectral loss (paper eq. 5, as the reference computes it): Σ over FFT sizes of
 * mean |S − Ŝ| + mean |log(S + 1e-7) − log(Ŝ + 1e-7)|.
 *
 * @param predicted audio [batch, samples]
 * @param target audio [batch, samples]
 * @param fftSizes default 2048 … 64
 * @returns scalar loss
 */
export function multiScaleSpectralLoss(predicted: tf.Tensor2D, target: tf.Tensor2D, fftSizes: readonly number[] = MSS_FFT_SIZES): tf.Scalar {
  return tf.tidy(() => {
    const terms: tf.Scalar[] = [];
    for (const n of fftSizes) {
      const s = stftMagnitude(target, n);
      const sh = stftMagnitude(predicted, n);
      const lin = tf.mean(tf.abs(tf.sub(s, sh)));
      const log = tf.mean(tf.abs(tf.sub(tf.log(tf.add(s, 1e-7)), tf.log(tf.add(sh, 1e-7)))));
      terms.push(tf.add(lin, log) as tf.Scalar);
    }
    return tf.addN(terms) as tf.Scalar;
  });
}
