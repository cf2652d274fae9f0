/**
 * Adamax with a saveable state. tfjs 4.22's AdamaxOptimizer computes the update Keras does, but its
 * getWeights/setWeights throw "not implemented", so a resumed training would restart the moments
 * from zero. This subclass adds them; the update itself is tfjs's. The field names it reads are
 * those of tfjs-core 4.22.0 (the version check in wasm-kernels.ts guards them).
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedTensor } from './io.ts';

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
