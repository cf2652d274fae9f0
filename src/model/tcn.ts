/**
 * A small causal dilated temporal convolutional network (TCN), the control-signal network shape of
 * DDX7 (Caspe et al. 2022): residual blocks of two causal convolutions, kernel 3, dilations
 * 1, 2, 4, 8, 16. Used to check that dilated, causal convolutions train on every backend.
 *
 * tfjs-layers rejects `padding: 'causal'` and tfjs refuses gradients of dilated convolutions, so
 * the convolution is the project's own {@link CausalConv1D} layer over {@link causalConv1d}, whose
 * gradient comes from `conv-grads.ts` (installed by `initBackend`).
 */
import * as tf from '@tensorflow/tfjs';
import type { Activation } from './cnn.ts';
import { causalConv1d } from './conv-grads.ts';

/** Options of {@link CausalConv1D}. */
export interface CausalConv1DOptions {
  /** Output channels. */
  readonly filters: number;
  /** Taps. Default 3. */
  readonly kernelSize?: number;
  /** Spacing of the taps in time steps. Default 1. */
  readonly dilation?: number;
  /** Activation applied after the bias. Default `linear`. */
  readonly activation?: Activation;
  /** Seed of the Glorot-uniform kernel initialiser. Default: unseeded. */
  readonly seed?: number;
  /** Layer name. */
  readonly name?: string;
}

/**
 * Causal dilated 1-D convolution layer, [batch, time, inChannels] → [batch, time, filters]:
 * output step t depends on input steps t, t − d, …, t − (K − 1)·d only.
 */
export class CausalConv1D extends tf.layers.Layer {
  /** tfjs serialisation name. */
  static readonly className = 'CausalConv1D';
  private readonly filters: number;
  private readonly kernelSize: number;
  private readonly dilation: number;
  private readonly activationName: Activation;
  private readonly seed: number | undefined;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(options: CausalConv1DOptions) {
    super(options.name === undefined ? {} : { name: options.name });
    this.filters = options.filters;
    this.kernelSize = options.kernelSize ?? 3;
    this.dilation = options.dilation ?? 1;
    this.activationName = options.activation ?? 'linear';
    this.seed = options.seed;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inChannels = shape[shape.length - 1];
    if (inChannels == null) throw new Error('CausalConv1D: the channel dimension must be known');
    const init = tf.initializers.glorotUniform(this.seed === undefined ? {} : { seed: this.seed });
    this.kernel = this.addWeight('kernel', [this.kernelSize, inChannels, this.filters], 'float32', init);
    this.bias = this.addWeight('bias', [this.filters], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [shape[0] ?? null, shape[1] ?? null, this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
      if (this.kernel === null || this.bias === null) throw new Error('CausalConv1D: not built');
      const y = tf.add(causalConv1d(x, this.kernel.read() as tf.Tensor3D, this.dilation), this.bias.read());
      return applyActivation(y, this.activationName);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      dilation: this.dilation,
      activation: this.activationName,
    };
  }
}
tf.serialization.registerClass(CausalConv1D);

function applyActivation(x: tf.Tensor, name: Activation): tf.Tensor {
  switch (name) {
    case 'relu':
      return tf.relu(x);
    case 'elu':
      return tf.elu(x);
    case 'selu':
      return tf.selu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'linear':
      return x;
  }
}

/** Options of {@link buildTcn}. */
export interface TcnOptions {
  /** Input channels (features per time step). Default 1. */
  readonly inputChannels?: number;
  /** Time steps, or `null` for any length. Default `null`. */
  readonly timeSteps?: number | null;
  /** Channels inside the residual blocks. Default 128. */
  readonly channels?: number;
  /** Output channels per time step. Default 1. */
  readonly outputs?: number;
  /** Dilation of each residual block, in order. Default [1, 2, 4, 8, 16] (receptive field 63 steps). */
  readonly dilations?: readonly number[];
  /** Taps per convolution. Default 3. */
  readonly kernelSize?: number;
  /** Activation inside and after each block. Default `relu`; `tanh` gives a smooth model for gradient checks. */
  readonly activation?: Activation;
  /** Seed of the initialisers. Default: unseeded. */
  readonly seed?: number;
}

/**
 * Builds (does not compile) a causal dilated TCN: a 1×1 input projection to `channels`, then one
 * residual block per dilation d, `y = act(x + conv_d(act(conv_d(x))))`, then a 1×1 output projection.
 *
 * @returns model mapping [batch, time, inputChannels] to [batch, time, outputs]
 */
export function buildTcn(options: TcnOptions = {}): tf.LayersModel {
  const channels = options.channels ?? 128;
  const kernelSize = options.kernelSize ?? 3;
  const activation = options.activation ?? 'relu';
  let seed = options.seed;
  const nextSeed = (): number | undefined => (seed === undefined ? undefined : seed++);
  const conv = (name: string, filters: number, k: number, dilation: number, act: Activation): CausalConv1D =>
    new CausalConv1D({ name, filters, kernelSize: k, dilation, activation: act, seed: nextSeed() });

  const input = tf.input({ shape: [options.timeSteps ?? null, options.inputChannels ?? 1], name: 'signal' });
  let x = conv('project_in', channels, 1, 1, 'linear').apply(input) as tf.SymbolicTensor;
  for (const d of options.dilations ?? [1, 2, 4, 8, 16]) {
    const h = conv(`block_d${d}_a`, channels, kernelSize, d, activation).apply(x) as tf.SymbolicTensor;
    const y = conv(`block_d${d}_b`, channels, kernelSize, d, 'linear').apply(h) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: `block_d${d}_residual` }).apply([x, y]) as tf.SymbolicTensor;
    x = tf.layers.activation({ name: `block_d${d}_out`, activation }).apply(sum) as tf.SymbolicTensor;
  }
  const output = conv('project_out', options.outputs ?? 1, 1, 1, 'linear').apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'tcn' });
}
