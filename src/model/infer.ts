/**
 * Inference of a tfjs-layers model with fused operations, the way inference runtimes (TF-Lite,
 * ONNX Runtime, `torch.jit.freeze`) run a trained network; numerically the same model as
 * `model.predict` up to float32 rounding (tested against it on the cpu backend).
 *
 * Why: tfjs-layers runs a Conv1D as a convolution, then a bias Add, then the activation, each a
 * pass over memory, and never fuses a 1-D convolution; an inference BatchNormalization is one
 * more pass. For the paper's CNN those passes over the first layer's 64 MB output cost ≈ 40 ms of
 * a ≈ 200 ms batch on wasm. Here:
 * - a BatchNormalization whose only consumer is a `valid` Conv1D is folded into that convolution's
 *   weights and bias (conv(a·x + s) = conv_{a·W}(x) + Σ s·W, per input channel);
 * - Conv1D and Dense layers run as `tf.fused.conv2d` / `tf.fused.matMul` with their bias and
 *   activation (relu, linear, elu, sigmoid: the activations tfjs fuses);
 * - Flatten is a reshape, Dropout the identity;
 * - any other layer (or activation, padding, data format) runs as the layer itself.
 *
 * Weights are read at every call, so a model being trained can be evaluated between epochs.
 */
import * as tf from '@tensorflow/tfjs';

/** The parts of a tfjs-layers layer used here (its class is not part of tfjs's typed API). */
interface LayerLike {
  readonly name: string;
  readonly inboundNodes: ReadonlyArray<{
    readonly inboundLayers: readonly LayerLike[];
    readonly tensorIndices: readonly number[];
    readonly outputTensors: readonly unknown[];
    readonly inputMasks: readonly unknown[];
    readonly outputMasks: readonly unknown[];
  }>;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  apply(inputs: tf.Tensor | tf.Tensor[], kwargs?: Record<string, unknown>): tf.Tensor | tf.Tensor[];
}

/** How each layer of a model runs in {@link predictFused}. */
export type LayerPlan = 'input' | 'folded' | 'fused' | 'reshape' | 'identity' | 'layer';

/** Activations tfjs's fused kernels apply, by tfjs-layers' serialized name. */
const FUSED_ACTIVATIONS = new Set(['linear', 'relu', 'elu', 'sigmoid']);

/**
 * A weight of a layer by its tfjs-layers property (`kernel`, `bias`, `gamma`, `beta`,
 * `movingMean`, `movingVariance`): variable names get suffixes when models are built twice in one
 * process (`kernel_1`), the properties do not.
 */
function weight(layer: LayerLike, property: string): tf.Tensor | undefined {
  const v = (layer as unknown as Record<string, { read(): tf.Tensor } | null | undefined>)[property];
  return v === null || v === undefined || typeof v.read !== 'function' ? undefined : v.read();
}

function required(layer: LayerLike, property: string): tf.Tensor {
  const w = weight(layer, property);
  if (w === undefined) throw new Error(`predictFused: layer ${layer.name} has no weight '${property}'`);
  return w;
}

function single(v: unknown): number | undefined {
  const x = Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v;
  return typeof x === 'number' ? x : undefined;
}

/** A Conv1D this module can run fused (channels last, no causal padding). */
function fusableConv(layer: LayerLike): boolean {
  if (layer.getClassName() !== 'Conv1D') return false;
  const c = layer.getConfig();
  return (c['dataFormat'] ?? 'channelsLast') === 'channelsLast' && (c['padding'] === 'valid' || c['padding'] === 'same') && FUSED_ACTIVATIONS.has(String(c['activation']));
}

/** A BatchNormalization over the last axis whose moving statistics and affine weights can be folded. */
function foldableBatchNorm(layer: LayerLike): boolean {
  if (layer.getClassName() !== 'BatchNormalization') return false;
  const axis = layer.getConfig()['axis'];
  return axis === -1 || (Array.isArray(axis) && axis.length === 1 && axis[0] === -1) || axis === 2;
}

/**
 * The graph of a functional model: each layer's input layers; null for graphs this module does
 * not run (and `model.predict` does): a layer called more than once (shared weights), a layer with
 * several outputs or an input taken from one, and masks (Masking, Embedding's `maskZero`), which
 * `model.predict` passes along the graph and `layer.apply` here would not.
 */
function graphOf(model: tf.LayersModel): Map<LayerLike, LayerLike[]> | null {
  const graph = new Map<LayerLike, LayerLike[]>();
  const present = (v: unknown): boolean => v !== null && v !== undefined;
  for (const layer of model.layers as unknown as LayerLike[]) {
    const node = layer.inboundNodes[0];
    if (layer.inboundNodes.length !== 1 || node === undefined) return null;
    if (node.outputTensors.length !== 1 || node.tensorIndices.some((i) => i !== 0)) return null;
    // (tfjs-layers leaves the symbolic masks null; the layers that make masks are these two.)
    if (node.inputMasks.some(present) || node.outputMasks.some(present)) return null;
    const cls = layer.getClassName();
    if (cls === 'Masking' || (cls === 'Embedding' && layer.getConfig()['maskZero'] === true)) return null;
    graph.set(layer, [...node.inboundLayers]);
  }
  return graph;
}

/**
 * How {@link predictFused} will run each layer of `model` (by layer name), or null if the model's
 * graph is one it does not handle (several inputs; shared layers, layers with several outputs,
 * masks: see `graphOf`) and `model.predict` runs instead.
 */
export function inferencePlan(model: tf.LayersModel): Map<string, LayerPlan> | null {
  const graph = graphOf(model);
  if (graph === null || model.inputs.length !== 1) return null;
  // (A symbolic tensor's index among its layer's outputs is `tensorIndex` at run time.)
  if (model.outputs.some((o) => ((o as unknown as { tensorIndex?: number }).tensorIndex ?? 0) !== 0)) return null;
  const consumers = new Map<LayerLike, LayerLike[]>();
  for (const [layer, ins] of graph) for (const i of ins) consumers.set(i, [...(consumers.get(i) ?? []), layer]);
  const outputs = new Set(model.outputs.map((o) => o.sourceLayer as unknown as LayerLike));
  const plan = new Map<string, LayerPlan>();
  for (const [layer, ins] of graph) {
    const cls = layer.getClassName();
    if (ins.length === 0) {
      plan.set(layer.name, 'input');
    } else if (foldableBatchNorm(layer) && !outputs.has(layer)) {
      const next = consumers.get(layer) ?? [];
      const only = next.length === 1 ? next[0] : undefined;
      // Zero padding after the normalisation is not the same as before it: valid convolutions only.
      plan.set(layer.name, only !== undefined && fusableConv(only) && only.getConfig()['padding'] === 'valid' ? 'folded' : 'layer');
    } else if (fusableConv(layer) || (cls === 'Dense' && FUSED_ACTIVATIONS.has(String(layer.getConfig()['activation'])))) {
      plan.set(layer.name, 'fused');
    } else if (cls === 'Flatten' && (layer.getConfig()['dataFormat'] ?? 'channelsLast') === 'channelsLast') {
      plan.set(layer.name, 'reshape');
    } else if (cls === 'Dropout') {
      plan.set(layer.name, 'identity');
    } else {
      plan.set(layer.name, 'layer');
    }
  }
  return plan;
}

/**
 * Per-input-channel affine map of an inference BatchNormalization: y = a·x + s with
 * a = γ / √(σ² + ε), s = β − μ·a (float64).
 */
function batchNormAffine(layer: LayerLike): { a: Float64Array; s: Float64Array } {
  const cfg = layer.getConfig();
  const eps = typeof cfg['epsilon'] === 'number' ? cfg['epsilon'] : 1e-3;
  const mean = required(layer, 'movingMean').dataSync();
  const variance = required(layer, 'movingVariance').dataSync();
  const gamma = cfg['scale'] === false ? undefined : weight(layer, 'gamma')?.dataSync();
  const beta = cfg['center'] === false ? undefined : weight(layer, 'beta')?.dataSync();
  const a = new Float64Array(mean.length);
  const s = new Float64Array(mean.length);
  for (let c = 0; c < mean.length; c++) {
    a[c] = (gamma?.[c] ?? 1) / Math.sqrt((variance[c] as number) + eps);
    s[c] = (beta?.[c] ?? 0) - (mean[c] as number) * (a[c] as number);
  }
  return { a, s };
}

/**
 * Runs a Conv1D fused, optionally through a preceding BatchNormalization folded into its weights.
 *
 * @param x [batch, length, channels]
 */
function fusedConv1d(layer: LayerLike, x: tf.Tensor, norm: LayerLike | undefined): tf.Tensor {
  const cfg = layer.getConfig();
  let kernel = required(layer, 'kernel'); // [K, C, F]
  let bias = cfg['useBias'] === false ? undefined : weight(layer, 'bias');
  if (norm !== undefined) {
    const [k, c, f] = kernel.shape as [number, number, number];
    const { a, s } = batchNormAffine(norm);
    if (a.length !== c && a.length !== 1) throw new Error(`predictFused: ${norm.name} has ${a.length} channels, ${layer.name} expects ${c}`);
    const w = kernel.dataSync();
    const folded = new Float32Array(w.length);
    const b64 = Float64Array.from(bias?.dataSync() ?? new Float32Array(f));
    for (let kk = 0; kk < k; kk++) {
      for (let cc = 0; cc < c; cc++) {
        const ac = a.length === 1 ? (a[0] as number) : (a[cc] as number);
        const sc = s.length === 1 ? (s[0] as number) : (s[cc] as number);
        for (let ff = 0; ff < f; ff++) {
          const i = (kk * c + cc) * f + ff;
          folded[i] = (w[i] as number) * ac;
          b64[ff] = (b64[ff] as number) + sc * (w[i] as number);
        }
      }
    }
    kernel = tf.tensor3d(folded, [k, c, f]);
    bias = tf.tensor1d(Float32Array.from(b64));
  }
  const [k, c, f] = kernel.shape as [number, number, number];
  const [n, length] = x.shape as [number, number, number];
  const stride = single(cfg['strides']) ?? 1;
  const dilation = single(cfg['dilationRate']) ?? 1;
  const y = tf.fused.conv2d({
    x: x.reshape([n, 1, length, c]) as tf.Tensor4D,
    filter: kernel.reshape([1, k, c, f]) as tf.Tensor4D,
    strides: [1, stride],
    pad: cfg['padding'] as 'valid' | 'same',
    dilations: [1, dilation],
    ...(bias === undefined ? {} : { bias }),
    activation: String(cfg['activation']) as tf.fused.Activation,
  });
  return y.reshape([n, y.shape[2] as number, f]);
}

function fusedDense(layer: LayerLike, x: tf.Tensor): tf.Tensor {
  const cfg = layer.getConfig();
  const bias = cfg['useBias'] === false ? undefined : weight(layer, 'bias');
  return tf.fused.matMul({
    a: x as tf.Tensor2D,
    b: required(layer, 'kernel') as tf.Tensor2D,
    ...(bias === undefined ? {} : { bias }),
    activation: String(cfg['activation']) as tf.fused.Activation,
  });
}

/**
 * The model's outputs for `x`, in `model.outputs` order, computed with fused operations (see the
 * module comment); `model.predict` when {@link inferencePlan} declines the model. Runs inside
 * `tf.tidy`: only the outputs survive.
 *
 * @param x the model's single input, with a batch axis
 */
export function predictFused(model: tf.LayersModel, x: tf.Tensor): tf.Tensor[] {
  const plan = inferencePlan(model);
  if (plan === null) {
    const o = model.predict(x);
    return Array.isArray(o) ? o : [o];
  }
  // model.predict refuses an input of the wrong shape; the fused ops would not all notice.
  const want = model.inputs[0]?.shape ?? [];
  if (x.rank !== want.length || want.some((d, i) => i > 0 && d !== null && d !== x.shape[i])) {
    throw new Error(`predictFused: input of shape [${x.shape.join(', ')}] for a model that takes [${want.map((d) => d ?? 'batch').join(', ')}]`);
  }
  return tf.tidy(() => {
    const graph = graphOf(model) as Map<LayerLike, LayerLike[]>;
    const values = new Map<LayerLike, tf.Tensor>();
    for (const [layer, ins] of graph) {
      const how = plan.get(layer.name) as LayerPlan;
      // (A Sequential model's input layer is not among its layers.)
      const inputs = ins.map((i) => values.get(i) ?? (i.getClassName() === 'InputLayer' ? x : undefined));
      if (inputs.some((t) => t === undefined)) throw new Error(`predictFused: an input of layer ${layer.name} was not computed before it`);
      const first = inputs[0] as tf.Tensor;
      const all = inputs as tf.Tensor[];
      let y: tf.Tensor | undefined;
      switch (how) {
        case 'input':
          y = x;
          break;
        case 'folded':
          y = first; // the consumer reads the un-normalised input and folds this layer in
          break;
        case 'fused': {
          const source = ins[0] as LayerLike;
          y = layer.getClassName() === 'Dense'
            ? first.rank === 2 ? fusedDense(layer, first) : (layer.apply(first) as tf.Tensor)
            : fusedConv1d(layer, first, plan.get(source.name) === 'folded' ? source : undefined);
          break;
        }
        case 'reshape':
          y = first.reshape([first.shape[0] as number, -1]);
          break;
        case 'identity':
          y = first;
          break;
        case 'layer': {
          const out = layer.apply(all.length === 1 ? first : all, { training: false });
          if (Array.isArray(out)) throw new Error(`predictFused: layer ${layer.name} has several outputs`);
          y = out;
          break;
        }
      }
      values.set(layer, y);
    }
    // An output that is the input itself (e.g. through Dropout only) is returned as a copy: the
    // caller disposes the outputs, not its input.
    return model.outputs.map((o) => {
      const y = values.get(o.sourceLayer as unknown as LayerLike) as tf.Tensor;
      return y === x ? x.clone() : y;
    });
  });
}
