/**
 * The paper's raw-audio CNN regressor (fm-parameter-estimation-cnn §5.2.3, Tables 2–3), shared by
 * the training benchmark and `train-cnn`.
 *
 * ```
 * input [inputLength, 1]
 * BatchNormalization
 * Conv1D(16, kernel 5, stride 2)      activation, L2, bias     (Table 2, "extrator1")
 * Conv1D(32, kernel 128, stride 16)   activation, L2, bias     ("extrator1_2")
 * Conv1D(64, kernel 512, stride 32)   activation, L2, bias     ("extrator1_3")
 * Flatten → F features                (F = 47·64 = 3008 for 64 000 samples)
 * Dense(F/2)  activation, L2          (Table 3, regressor layer 1)
 * Dropout(0.2)
 * Dense(F/4)  activation              (regressor layer 2)
 * Dense(outputs), linear              (regressor output)
 * ```
 * Padding is Keras's default, `valid`. Table 3 leaves the dense layers' activation and bias
 * "variable"; we default to the convolutions' activation and to biases on.
 */
import * as tf from '@tensorflow/tfjs';

/** Activations the builders accept (tfjs-layers identifiers). */
export type Activation = 'relu' | 'elu' | 'selu' | 'tanh' | 'sigmoid' | 'linear';

/** Options of {@link buildPaperCnn}; every field has the paper's value as default. */
export interface PaperCnnOptions {
  /** Input length in samples. Default 64 000 (4 s at 16 kHz, paper §5.2.2). Must be ≥ 16 611 for the stride chain. */
  readonly inputLength?: number;
  /** Regression outputs. Default 15 (the parameter table's size in the paper). */
  readonly outputs?: number;
  /** Activation of the three convolutions. Default `relu` (Table 2). */
  readonly convActivation?: Activation;
  /** Activation of the two hidden dense layers. Default `relu` (Table 3 says "variable"). */
  readonly denseActivation?: Activation;
  /**
   * L2 weight-decay factor on the convolution kernels and the first dense kernel. Default 0.01,
   * the factor Keras's `'l2'` shorthand stands for (Tables 2–3 say only "l2"). 0 disables it.
   */
  readonly l2?: number;
  /** Dropout rate after the first dense layer. Default 0.2 (Table 3). */
  readonly dropoutRate?: number;
  /** Seed for the kernel initialisers, for reproducible weights. Default: unseeded. */
  readonly seed?: number;
  /**
   * Ours: when > 0, a second output `carrier_bins` (that many sigmoid units on the last hidden
   * layer) classifies the carrier over log-spaced bins (see `dataset/carrier-bins.ts`). Default 0.
   */
  readonly carrierBins?: number;
}

/** Output length of a valid 1-D convolution. */
function convOut(length: number, kernel: number, stride: number): number {
  return Math.floor((length - kernel) / stride) + 1;
}

/** The three convolutions of Table 2: [filters, kernel, stride]. */
export const PAPER_CONV_LAYERS: ReadonlyArray<readonly [filters: number, kernel: number, stride: number]> = [
  [16, 5, 2],
  [32, 128, 16],
  [64, 512, 32],
];

/**
 * Length of the flattened feature vector F for an input length, or throws if the input is too
 * short for the stride chain.
 *
 * @param inputLength samples
 */
export function paperCnnFeatureCount(inputLength: number): number {
  let length = inputLength;
  let channels = 1;
  for (const [filters, kernel, stride] of PAPER_CONV_LAYERS) {
    length = convOut(length, kernel, stride);
    channels = filters;
    if (length < 1) throw new Error(`paper CNN: input length ${inputLength} is too short (minimum 16 611 samples)`);
  }
  return length * channels;
}

/**
 * Builds (does not compile) the paper's CNN as a tfjs-layers model.
 *
 * @returns model mapping [batch, inputLength, 1] audio to [batch, outputs] normalised parameters
 */
export function buildPaperCnn(options: PaperCnnOptions = {}): tf.LayersModel {
  const inputLength = options.inputLength ?? 64000;
  const outputs = options.outputs ?? 15;
  const convActivation = options.convActivation ?? 'relu';
  const denseActivation = options.denseActivation ?? 'relu';
  const l2 = options.l2 ?? 0.01;
  const dropoutRate = options.dropoutRate ?? 0.2;
  const features = paperCnnFeatureCount(inputLength);
  let seed = options.seed;
  const init = (): ReturnType<typeof tf.initializers.glorotUniform> =>
    tf.initializers.glorotUniform(seed === undefined ? {} : { seed: seed++ });
  const regularizer = (): ReturnType<typeof tf.regularizers.l2> | undefined => (l2 > 0 ? tf.regularizers.l2({ l2 }) : undefined);

  const input = tf.input({ shape: [inputLength, 1], name: 'audio' });
  let x = tf.layers.batchNormalization({ name: 'input_norm' }).apply(input) as tf.SymbolicTensor;
  PAPER_CONV_LAYERS.forEach(([filters, kernelSize, strides], i) => {
    x = tf.layers
      .conv1d({
        name: `extractor${i + 1}`,
        filters,
        kernelSize,
        strides,
        padding: 'valid',
        activation: convActivation,
        useBias: true,
        kernelInitializer: init(),
        kernelRegularizer: regularizer(),
      })
      .apply(x) as tf.SymbolicTensor;
  });
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .dense({
      name: 'regressor1',
      units: Math.floor(features / 2),
      activation: denseActivation,
      kernelInitializer: init(),
      kernelRegularizer: regularizer(),
    })
    .apply(x) as tf.SymbolicTensor;
  if (dropoutRate > 0) x = tf.layers.dropout({ name: 'dropout', rate: dropoutRate }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .dense({ name: 'regressor2', units: Math.floor(features / 4), activation: denseActivation, kernelInitializer: init() })
    .apply(x) as tf.SymbolicTensor;
  const output = tf.layers
    .dense({ name: 'parameters', units: outputs, activation: 'linear', kernelInitializer: init() })
    .apply(x) as tf.SymbolicTensor;
  const bins = options.carrierBins ?? 0;
  if (bins <= 0) return tf.model({ inputs: input, outputs: output, name: 'paper_cnn' });
  const binsOut = tf.layers
    .dense({ name: 'carrier_bins', units: bins, activation: 'sigmoid', kernelInitializer: init() })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: [output, binsOut], name: 'paper_cnn' });
}
