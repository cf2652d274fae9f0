/**
 * The train / validation / test split of the CNN paper (§5.2): 75 % / 25 % train / test, then 20 %
 * of train held out for validation (3,000 / 750 / 1,250 of 5,000). Seeded, so a split is a
 * function of (ids, seed), and saved beside the model.
 */
import seedrandom from 'seedrandom';

/** Row indices of each part, each ascending. */
export interface Split {
  readonly train: readonly number[];
  readonly validation: readonly number[];
  readonly test: readonly number[];
}

/** Fractions of the split. */
export const TEST_FRACTION = 0.25;
export const VALIDATION_FRACTION_OF_TRAIN = 0.2;

/** Fisher–Yates shuffle of 0…n−1 with a seeded generator. */
export function seededPermutation(n: number, seedText: string): number[] {
  const rng = seedrandom.alea(seedText);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/**
 * Splits `count` rows. Every part gets at least one row when count ≥ 3 (tiny test datasets still
 * validate and test something).
 */
export function makeSplit(count: number, seed: number): Split {
  if (count < 3) throw new Error(`a dataset of ${count} patches cannot be split into train, validation and test (need ≥ 3)`);
  const perm = seededPermutation(count, `fmmatch/split/${seed}`);
  const nTest = Math.max(1, Math.round(count * TEST_FRACTION));
  const rest = count - nTest;
  const nVal = Math.max(1, Math.round(rest * VALIDATION_FRACTION_OF_TRAIN));
  const asc = (a: number[]): number[] => a.sort((x, y) => x - y);
  return {
    test: asc(perm.slice(0, nTest)),
    validation: asc(perm.slice(nTest, nTest + nVal)),
    train: asc(perm.slice(nTest + nVal)),
  };
}
