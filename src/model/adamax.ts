/**
 * Adamax with a saveable state. tfjs 4.22's AdamaxOptimizer computes the update Keras does, but its
 * getWeights/setWeights throw "not implemented", so a resumed training would restart the moments
 * from zero. This subclass adds them. The update is tfjs's: on wasm the same float32 operations in
 * the same order run as one kernel per variable (`FmmAdamaxStep`, one pass instead of ten;
 * equal to tfjs's own update value for value, tested), with subnormal results flushed to zero
 * (WebAssembly cannot, and on x86 they made training steps 3–6× slower after some epochs, measured;
 * native TensorFlow flushes them too); elsewhere tfjs's code itself. The field
 * names it reads are those of tfjs-core 4.22.0 (the version check in wasm-kernels.ts guards them).
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedTensor } from './io.ts';
import { ADAMAX_STEP_KERNEL } from './wasm-kernels.ts';

interface AdamaxInternals {
  iteration: tf.Variable;
  accBeta1: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedWeightedInfNorm: { originalName: string; variable: tf.Variable }[];
}

/** Adamax (Kingma & Ba 2015, §7.1) whose state survives a checkpoint. */
export class SaveableAdamax extends tf.AdamaxOptimizer {
  constructor(learningRate: number, beta1 = 0.9, beta2 = 0.999) {
    super(learningRate, beta1, beta2);
  }

  private get internals(): AdamaxInternals {
    return this as unknown as AdamaxInternals;
  }

  override applyGradients(variableGradients: Parameters<tf.AdamaxOptimizer['applyGradients']>[0]): void {
    if (tf.getBackend() !== 'wasm' || tf.getKernel(ADAMAX_STEP_KERNEL, 'wasm') === undefined) {
      super.applyGradients(variableGradients);
      return;
    }
    const s = this.internals;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    tf.tidy(() => {
      // The step's scalars by tfjs's own float32 operations, as its applyGradients computes them.
      const oneMinusAccBeta1 = tf.sub(1, s.accBeta1);
      const lr = tf.div(-this.learningRate, tf.add(tf.mul(s.iteration, this.decay), 1));
      const c = (tf.div(lr, oneMinusAccBeta1).dataSync() as Float32Array)[0] as number;
      const constants = tf.tensor1d([this.beta1, 1 - this.beta1, this.beta2, this.epsilon, c], 'float32');
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        if (value === undefined) throw new Error(`Adamax: variable ${name} is not registered`);
        s.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.zerosLike(value).variable(false) };
        s.accumulatedWeightedInfNorm[i] ??= { originalName: `${name}/v`, variable: tf.zerosLike(value).variable(false) };
        const gradient = Array.isArray(variableGradients) ? variableGradients[i]?.tensor : variableGradients[name];
        if (gradient == null) return;
        const m = (s.accumulatedFirstMoment[i] as { variable: tf.Variable }).variable;
        const u = (s.accumulatedWeightedInfNorm[i] as { variable: tf.Variable }).variable;
        const [m1, u1, w1] = tf.engine().runKernel(ADAMAX_STEP_KERNEL, { m, u, w: value, g: gradient, constants }) as tf.Tensor[];
        m.assign(m1 as tf.Tensor);
        u.assign(u1 as tf.Tensor);
        value.assign(w1 as tf.Tensor);
      });
      s.iteration.assign(tf.add(s.iteration, 1));
      s.accBeta1.assign(tf.mul(s.accBeta1, this.beta1));
    });
    this.incrementIterations();
  }

  /** Step count, bias-correction accumulator, then first moments and infinity norms in variable order. */
  override async getWeights(): Promise<NamedTensor[]> {
    const s = this.internals;
    return [
      { name: 'adamax/iteration', tensor: s.iteration },
      { name: 'adamax/acc_beta1', tensor: s.accBeta1 },
      ...s.accumulatedFirstMoment.map((v) => ({ name: v.originalName, tensor: v.variable })),
      ...s.accumulatedWeightedInfNorm.map((v) => ({ name: v.originalName, tensor: v.variable })),
    ];
  }

  /** Restores what `getWeights` returned (for the same model, so the variable order matches). */
  override async setWeights(weights: NamedTensor[]): Promise<void> {
    const s = this.internals;
    const byName = (n: string): tf.Tensor => {
      const w = weights.find((x) => x.name === n);
      if (!w) throw new Error(`optimizer state lacks ${n}`);
      return w.tensor;
    };
    s.iteration.assign(byName('adamax/iteration') as tf.Scalar);
    s.accBeta1.assign(byName('adamax/acc_beta1') as tf.Scalar);
    const rest = weights.filter((w) => !w.name.startsWith('adamax/'));
    if (rest.length % 2 !== 0) throw new Error('optimizer state has unpaired moments');
    const half = rest.length / 2;
    for (const v of [...s.accumulatedFirstMoment, ...s.accumulatedWeightedInfNorm]) v.variable.dispose();
    s.accumulatedFirstMoment = rest.slice(0, half).map((w) => ({ originalName: w.name, variable: tf.variable(w.tensor, false) }));
    s.accumulatedWeightedInfNorm = rest.slice(half).map((w) => ({ originalName: w.name, variable: tf.variable(w.tensor, false) }));
  }
}
