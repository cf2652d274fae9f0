/**
 * The strided SIMD matrix products behind the wasm convolutions, checked against float64 sums
 * written out in full, and for identical bytes whatever the thread count.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import seedrandom from 'seedrandom';
import { GemmEngine, NR, packB, winogradGradScratchLength, winogradScratchLength } from '../src/model/wasm-gemm.ts';

const rng = seedrandom('fmmatch-wasm-gemm');
const randInt = (lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const randArray = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng() * 2 - 1);

/** Rows of A: example b, position t starts at b·aBatch + t·aRow and is K long (rows may overlap). */
interface Case {
  readonly batches: number;
  readonly t: number;
  readonly k: number;
  readonly n: number;
  readonly aRow: number;
  readonly aBatch: number;
}

function randomCase(): Case {
  const t = randInt(1, 140); // crosses the 128-row cache block and leaves rows beyond multiples of 4
  const k = rng() < 0.2 ? randInt(2049, 2400) : randInt(1, 90); // > 2048: more than one K block
  const aRow = randInt(1, k + 3); // overlapping (< K), touching or gapped rows
  return { batches: randInt(1, 3), t, k, n: NR * randInt(1, 3), aRow, aBatch: (t - 1) * aRow + k + randInt(0, 5) };
}

const engines = new Map<string, GemmEngine>();
function engine(threads: number, fma: boolean): GemmEngine {
  const key = `${threads}/${fma}`;
  let e = engines.get(key);
  if (e === undefined) {
    e = new GemmEngine(threads, fma);
    engines.set(key, e);
  }
  return e;
}

after(async () => {
  for (const e of engines.values()) await e.dispose();
});

function run(e: GemmEngine, cs: Case, a: Float32Array, b: Float32Array, d: Float32Array): { c: Float32Array; w: Float32Array } {
  e.reset();
  const m = cs.batches * cs.t;
  const ab = e.alloc(a.length);
  ab.view().set(a);
  const bp = e.alloc(cs.k * cs.n);
  packB(b, cs.k, cs.n, bp.view());
  const cb = e.alloc(m * cs.n);
  const db = e.alloc(d.length);
  db.view().set(d);
  const wb = e.alloc(cs.k * cs.n);
  e.gemm(ab.ptr / 4, cs.aBatch, cs.aRow, cs.t, cs.batches, cs.k, bp.ptr / 4, cs.n, cb.ptr / 4);
  e.gradW(ab.ptr / 4, cs.aBatch, cs.aRow, cs.t, cs.batches, cs.k, db.ptr / 4, cs.n, wb.ptr / 4);
  return { c: Float32Array.from(cb.view()), w: Float32Array.from(wb.view()) };
}

describe('GemmEngine', () => {
  const cases: Case[] = [
    { batches: 1, t: 1, k: 1, n: 8, aRow: 1, aBatch: 1 },
    { batches: 2, t: 5, k: 7, n: 16, aRow: 2, aBatch: 20 },
    ...Array.from({ length: 8 }, randomCase),
  ];
  for (const cs of cases) {
    test(`gemm and gradW ${JSON.stringify(cs)}: float64 sums; same bytes on 1, 2 and 3 threads`, () => {
      const a = randArray((cs.batches - 1) * cs.aBatch + (cs.t - 1) * cs.aRow + cs.k);
      const b = randArray(cs.k * cs.n);
      const d = randArray(cs.batches * cs.t * cs.n);
      for (const fma of [true, false]) {
        const one = run(engine(1, fma), cs, a, b, d);
        let cErr = 0;
        let cScale = 0;
        for (let bi = 0; bi < cs.batches; bi++) {
          for (let t = 0; t < cs.t; t++) {
            const row = bi * cs.aBatch + t * cs.aRow;
            for (let j = 0; j < cs.n; j++) {
              let sum = 0;
              let abs = 0;
              for (let k = 0; k < cs.k; k++) {
                const p = (a[row + k] as number) * (b[k * cs.n + j] as number);
                sum += p;
                abs += Math.abs(p);
              }
              cErr = Math.max(cErr, Math.abs(sum - (one.c[(bi * cs.t + t) * cs.n + j] as number)));
              cScale = Math.max(cScale, abs);
            }
          }
        }
        let wErr = 0;
        let wScale = 0;
        for (let k = 0; k < cs.k; k++) {
          for (let j = 0; j < cs.n; j++) {
            let sum = 0;
            let abs = 0;
            for (let bi = 0; bi < cs.batches; bi++) {
              for (let t = 0; t < cs.t; t++) {
                const p = (a[bi * cs.aBatch + t * cs.aRow + k] as number) * (d[(bi * cs.t + t) * cs.n + j] as number);
                sum += p;
                abs += Math.abs(p);
              }
            }
            wErr = Math.max(wErr, Math.abs(sum - (one.w[k * cs.n + j] as number)));
            wScale = Math.max(wScale, abs);
          }
        }
        // float32 accumulation of L terms: error ≲ L·2⁻²⁴·Σ|terms|; the bound is loose by design.
        assert.ok(cErr <= 2e-7 * cs.k * cScale + 1e-30, `gemm (fma ${fma}): max error ${cErr} vs scale ${cScale}`);
        const terms = cs.batches * cs.t;
        assert.ok(wErr <= 2e-7 * terms * wScale + 1e-30, `gradW (fma ${fma}): max error ${wErr} vs scale ${wScale}`);
        for (const threads of [2, 3]) {
          const many = run(engine(threads, fma), cs, a, b, d);
          assert.deepEqual(Buffer.from(many.c.buffer), Buffer.from(one.c.buffer), `gemm bytes, ${threads} threads vs 1 (fma ${fma})`);
          assert.deepEqual(Buffer.from(many.w.buffer), Buffer.from(one.w.buffer), `gradW bytes, ${threads} threads vs 1 (fma ${fma})`);
        }
      }
    });
  }

  for (const [rows, cols] of [[1, 4], [257, 8], [3000, 20]] as const) {
    test(`colSums ${rows}x${cols}: float64 sums; same bytes on 1, 2 and 3 threads`, () => {
      const x = randArray(rows * cols);
      const sums = (threads: number): Float64Array => {
        const e = engine(threads, true);
        e.reset();
        const xb = e.alloc(x.length);
        xb.view().set(x);
        const out = new Float64Array(cols);
        e.colSums(xb.ptr / 4, rows, cols, out);
        return out;
      };
      const one = sums(1);
      for (let c = 0; c < cols; c++) {
        let ref = 0;
        for (let r = 0; r < rows; r++) ref += x[r * cols + c] as number;
        assert.ok(Math.abs((one[c] as number) - ref) <= 1e-6 * Math.sqrt(rows), `column ${c}: ${one[c]} vs ${ref}`);
      }
      for (const threads of [2, 3]) assert.deepEqual(sums(threads), one, `${threads} threads vs 1`);
    });
  }

  test('an engine used after dispose() throws instead of waiting for its stopped workers', async () => {
    const e = new GemmEngine(2, true);
    e.reset();
    const a = e.alloc(64);
    e.gemm(a.ptr / 4, 0, 8, 8, 1, 8, a.ptr / 4, 8, a.ptr / 4, 'row-major');
    assert.equal(e.runs, 1);
    await e.dispose();
    assert.throws(() => e.gemm(a.ptr / 4, 0, 8, 8, 1, 8, a.ptr / 4, 8, a.ptr / 4, 'row-major'), /after dispose/);
  });

  test('gemm with B row-major and an output batch stride equals the packed, contiguous product', () => {
    const e = engine(2, true);
    e.reset();
    const [batches, t, k, n, aRow] = [3, 37, 40, 16, 5];
    const aLen = (batches - 1) * 300 + (t - 1) * aRow + k;
    const a = randArray(aLen);
    const b = randArray(k * n);
    const ab = e.alloc(aLen);
    ab.view().set(a);
    const bp = e.alloc(k * n);
    packB(b, k, n, bp.view());
    const br = e.alloc(k * n);
    br.view().set(b);
    const c1 = e.alloc(batches * t * n);
    const cBatch = t * n + 24; // gaps between examples stay untouched
    const c2 = e.alloc(batches * cBatch);
    c2.view().fill(7);
    e.gemm(ab.ptr / 4, 300, aRow, t, batches, k, bp.ptr / 4, n, c1.ptr / 4);
    e.gemm(ab.ptr / 4, 300, aRow, t, batches, k, br.ptr / 4, n, c2.ptr / 4, 'row-major', cBatch);
    const v1 = c1.view();
    const v2 = c2.view();
    for (let bi = 0; bi < batches; bi++) {
      assert.deepEqual(Array.from(v2.subarray(bi * cBatch, bi * cBatch + t * n)), Array.from(v1.subarray(bi * t * n, (bi + 1) * t * n)));
      assert.ok(v2.subarray(bi * cBatch + t * n, (bi + 1) * cBatch).every((v) => v === 7));
    }
  });

  const epilogueCases: Case[] = [
    { batches: 1, t: 1, k: 5, n: 8, aRow: 2, aBatch: 5 },
    { batches: 3, t: 13, k: 5, n: 16, aRow: 2, aBatch: 31 }, // the first layer's shape, small
    { batches: 2, t: 9, k: 2100, n: 8, aRow: 16, aBatch: 2300 }, // two K blocks: the epilogue once, at the end
    ...Array.from({ length: 5 }, randomCase),
  ];
  for (const cs of epilogueCases) {
    test(`bias + ReLU epilogue and convDirect ${JSON.stringify(cs)}: the unfused product, then + bias, then max(·, 0); same bytes on 1–3 threads`, () => {
      const a = randArray((cs.batches - 1) * cs.aBatch + (cs.t - 1) * cs.aRow + cs.k);
      const b = randArray(cs.k * cs.n);
      const bias = randArray(cs.n).map((v) => v * 3);
      const m = cs.batches * cs.t;
      for (const fma of [true, false]) {
        const outputs = (threads: number): Float32Array[] => {
          const e = engine(threads, fma);
          e.reset();
          const ab = e.alloc(a.length);
          ab.view().set(a);
          const bp = e.alloc(cs.k * cs.n);
          packB(b, cs.k, cs.n, bp.view());
          const bb = e.alloc(cs.n);
          bb.view().set(bias);
          const args = [ab.ptr / 4, cs.aBatch, cs.aRow, cs.t, cs.batches, cs.k, bp.ptr / 4, cs.n] as const;
          const out = (fill: (c: number) => void): Float32Array => {
            const cb = e.alloc(m * cs.n);
            cb.view().fill(NaN);
            fill(cb.ptr / 4);
            return Float32Array.from(cb.view());
          };
          return [
            out((c) => e.gemm(...args, c)),
            out((c) => e.gemm(...args, c, 'packed', cs.t * cs.n, { bias: bb.ptr / 4, relu: true })),
            out((c) => e.gemm(...args, c, 'packed', cs.t * cs.n, { bias: bb.ptr / 4, relu: false })),
            out((c) => e.gemm(...args, c, 'packed', cs.t * cs.n, { bias: null, relu: true })),
            out((c) => e.convDirect(...args, c)),
            out((c) => e.convDirect(...args, c, { bias: bb.ptr / 4, relu: true })),
          ];
        };
        const [plain, biasRelu, biasOnly, reluOnly, direct, directBiasRelu] = outputs(1) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
        const withBias = plain.map((v, i) => Math.fround(v + (bias[i % cs.n] as number)));
        const relu = (x: Float32Array): Float32Array => x.map((v) => Math.max(v, 0));
        assert.deepEqual(biasOnly, withBias, `bias (fma ${fma})`);
        assert.deepEqual(biasRelu, relu(withBias), `bias + ReLU (fma ${fma})`);
        assert.deepEqual(reluOnly, relu(plain), `ReLU (fma ${fma})`);
        // convDirect sums over k in the same order as gemm: the same bytes.
        assert.deepEqual(direct, plain, `convDirect vs gemm (fma ${fma})`);
        assert.deepEqual(directBiasRelu, biasRelu, `convDirect with bias + ReLU (fma ${fma})`);
        assert.ok(biasRelu.some((v) => v === 0) && biasRelu.some((v) => v > 0), 'the case exercises both sides of ReLU');
        for (const threads of [2, 3]) {
          const many = outputs(threads);
          many.forEach((o, i) => assert.deepEqual(o, [plain, biasRelu, biasOnly, reluOnly, direct, directBiasRelu][i], `output ${i}, ${threads} threads vs 1 (fma ${fma})`));
        }
      }
    });
  }

  test('matmul (columns split between threads for few rows) equals the row-split product, with and without bias + ReLU', () => {
    for (const [m, k, n] of [[32, 300, 120], [5, 17, 48], [3, 1100, 16], [200, 40, 64]] as const) {
      const a = randArray(m * k);
      const b = randArray(k * n);
      const bias = randArray(n);
      const results = [1, 2, 3].map((threads) => {
        const e = engine(threads, true);
        e.reset();
        const ab = e.alloc(m * k);
        ab.view().set(a);
        const bb = e.alloc(k * n);
        bb.view().set(b);
        const biasB = e.alloc(n);
        biasB.view().set(bias);
        const c1 = e.alloc(m * n);
        const c2 = e.alloc(m * n);
        const c3 = e.alloc(m * n);
        e.gemm(ab.ptr / 4, 0, k, m, 1, k, bb.ptr / 4, n, c1.ptr / 4, 'row-major');
        e.matmul(ab.ptr / 4, m, k, bb.ptr / 4, n, c2.ptr / 4);
        e.matmul(ab.ptr / 4, m, k, bb.ptr / 4, n, c3.ptr / 4, { bias: biasB.ptr / 4, relu: true });
        return [c1, c2, c3].map((c) => Float32Array.from(c.view()));
      });
      const [rowSplit, matmul, fused] = results[0] as [Float32Array, Float32Array, Float32Array];
      assert.deepEqual(matmul, rowSplit, `${m}x${k}x${n}`);
      assert.deepEqual(fused, rowSplit.map((v, i) => Math.max(0, Math.fround(v + (bias[i % n] as number)))), `${m}x${k}x${n} bias + ReLU`);
      for (const r of results.slice(1)) r.forEach((c, i) => assert.deepEqual(c, results[0]?.[i], `${m}x${k}x${n} output ${i}: threads`));
    }
  });

  const winogradCases = [
    { bs: 256, q: 8, t: 40, batches: 2, f: 32, tail: 0 }, // conv2's blocks (stride 16 × 16 channels), even T
    { bs: 64, q: 16, t: 47, batches: 2, f: 16, tail: 3 }, // conv3's q and odd T (its last output directly)
    { bs: 4, q: 2, t: 2, batches: 1, f: 8, tail: 0 }, // smallest
    { bs: 12, q: 4, t: 9, batches: 3, f: 24, tail: 11 },
    { bs: 576, q: 8, t: 7, batches: 1, f: 8, tail: 0 }, // half reduction 2,304: two K blocks in each product
  ];
  for (const cs of winogradCases) {
    test(`convWinograd ${JSON.stringify(cs)}: the direct product to rounding; bias + ReLU; same bytes on 1–3 threads`, () => {
      const k = cs.q * cs.bs;
      const xBatch = (cs.t - 1 + cs.q) * cs.bs + cs.tail;
      const x = randArray(cs.batches * xBatch).map((v) => Math.max(0, v)); // post-ReLU inputs, as in the CNN
      const w = randArray(k * cs.f);
      const bias = randArray(cs.f);
      const m = cs.batches * cs.t;
      const results = [1, 2, 3].map((threads) => {
        const e = engine(threads, true);
        e.reset();
        const xb = e.alloc(x.length);
        xb.view().set(x);
        const wb = e.alloc(w.length);
        wb.view().set(w);
        const bb = e.alloc(cs.f);
        bb.view().set(bias);
        const scratch = e.alloc(winogradScratchLength(cs.bs, cs.q, cs.t, cs.batches, cs.f));
        const y = e.alloc(m * cs.f);
        const yf = e.alloc(m * cs.f);
        y.view().fill(NaN);
        yf.view().fill(NaN);
        e.convWinograd(xb.ptr / 4, xBatch, cs.bs, cs.q, cs.t, cs.batches, wb.ptr / 4, cs.f, y.ptr / 4, scratch.ptr / 4);
        e.convWinograd(xb.ptr / 4, xBatch, cs.bs, cs.q, cs.t, cs.batches, wb.ptr / 4, cs.f, yf.ptr / 4, scratch.ptr / 4, { bias: bb.ptr / 4, relu: true });
        // Output items further apart: the same rows, the gaps untouched.
        const yBatch = cs.t * cs.f + 8;
        const ys = e.alloc(cs.batches * yBatch);
        ys.view().fill(7);
        e.convWinograd(xb.ptr / 4, xBatch, cs.bs, cs.q, cs.t, cs.batches, wb.ptr / 4, cs.f, ys.ptr / 4, scratch.ptr / 4, undefined, yBatch);
        for (let b = 0; b < cs.batches; b++) {
          assert.deepEqual(ys.view().subarray(b * yBatch, b * yBatch + cs.t * cs.f), y.view().subarray(b * cs.t * cs.f, (b + 1) * cs.t * cs.f), `item ${b} with a batch stride`);
          assert.ok(ys.view().subarray(b * yBatch + cs.t * cs.f, (b + 1) * yBatch).every((v) => v === 7), 'gaps untouched');
        }
        return [Float32Array.from(y.view()), Float32Array.from(yf.view())];
      });
      const [plain, fused] = results[0] as [Float32Array, Float32Array];
      for (let b = 0; b < cs.batches; b++) {
        for (let t = 0; t < cs.t; t++) {
          for (let j = 0; j < cs.f; j++) {
            let sum = 0;
            let abs = 0;
            for (let kk = 0; kk < k; kk++) {
              const p = (x[b * xBatch + t * cs.bs + kk] as number) * (w[kk * cs.f + j] as number);
              sum += p;
              abs += Math.abs(p);
            }
            const i = (b * cs.t + t) * cs.f + j;
            // Per output, about k·ε/2 of its Σ|terms| (a dropped product is ≈ Σ|terms|/k).
            const tol = Math.max(3e-8 * k, 1e-6) * abs + 1e-30;
            assert.ok(Math.abs((plain[i] as number) - sum) <= tol, `output ${i}: ${plain[i]} vs ${sum}`);
            const want = Math.max(0, sum + (bias[j] as number));
            assert.ok(Math.abs((fused[i] as number) - want) <= tol + 1e-7 * Math.abs(bias[j] as number), `fused output ${i}: ${fused[i]} vs ${want}`);
          }
        }
      }
      assert.ok(fused.some((v) => v === 0) && fused.some((v) => v > 0), 'both sides of ReLU');
      for (const r of results.slice(1)) r.forEach((o, i) => assert.deepEqual(o, results[0]?.[i], `output ${i}: threads`));
    });
  }

  for (const cs of winogradCases) {
    test(`gradWWinograd ${JSON.stringify(cs)}: gradW's filter gradient to rounding; same bytes on 1–3 threads`, () => {
      const k = cs.q * cs.bs;
      const xBatch = (cs.t - 1 + cs.q) * cs.bs + cs.tail;
      const x = randArray(cs.batches * xBatch);
      const dy = randArray(cs.batches * cs.t * cs.f);
      const results = [1, 2, 3].map((threads) => {
        const e = engine(threads, true);
        e.reset();
        const xb = e.alloc(x.length);
        xb.view().set(x);
        const db = e.alloc(dy.length);
        db.view().set(dy);
        const scratch = e.alloc(winogradGradScratchLength(cs.bs, cs.q, cs.t, cs.batches, cs.f));
        const dw = e.alloc(k * cs.f);
        dw.view().fill(NaN);
        e.gradWWinograd(xb.ptr / 4, xBatch, cs.bs, cs.q, cs.t, cs.batches, db.ptr / 4, cs.f, dw.ptr / 4, scratch.ptr / 4);
        return Float32Array.from(dw.view());
      });
      const got = results[0] as Float32Array;
      for (let kk = 0; kk < k; kk++) {
        for (let j = 0; j < cs.f; j++) {
          let sum = 0;
          let abs = 0;
          for (let b = 0; b < cs.batches; b++) {
            for (let t = 0; t < cs.t; t++) {
              const p = (x[b * xBatch + t * cs.bs + kk] as number) * (dy[(b * cs.t + t) * cs.f + j] as number);
              sum += p;
              abs += Math.abs(p);
            }
          }
          const terms = cs.batches * cs.t;
          const tol = Math.max(3e-8 * terms, 1e-6) * abs + 1e-30;
          assert.ok(Math.abs((got[kk * cs.f + j] as number) - sum) <= tol, `dW[${kk}, ${j}]: ${got[kk * cs.f + j]} vs ${sum}`);
        }
      }
      for (const r of results.slice(1)) assert.deepEqual(r, got, 'threads');
    });
  }

  test('packB on the engine equals the JavaScript packing, on 1–3 threads', () => {
    for (const [k, n] of [[1, 8], [5, 16], [333, 24], [2048, 32]] as const) {
      const b = randArray(k * n);
      const want = new Float32Array(k * n);
      packB(b, k, n, want);
      for (const threads of [1, 2, 3]) {
        const e = engine(threads, true);
        e.reset();
        const src = e.alloc(k * n);
        src.view().set(b);
        const out = e.alloc(k * n);
        out.view().fill(NaN);
        e.packB(src.ptr / 4, k, n, out.ptr / 4);
        assert.deepEqual(out.view(), want, `K ${k}, N ${n}, ${threads} threads`);
      }
    }
  });

  test('a column count that is not a multiple of 8 is refused', () => {
    const e = engine(1, true);
    e.reset();
    assert.throws(() => e.gemm(0, 1, 1, 1, 1, 1, 0, 12, 0), /not a multiple of 8/);
    assert.throws(() => e.gradW(0, 1, 1, 1, 1, 1, 0, 4, 0), /not a multiple of 8/);
    assert.throws(() => e.convDirect(0, 1, 1, 1, 1, 1, 0, 12, 0), /not a multiple of 8/);
  });

  test('a wasm trap in a worker thread is an error, not a hang', () => {
    const e = engine(2, true);
    e.reset();
    const a = e.alloc(64 * 8);
    const b = e.alloc(8 * 8);
    const c = e.alloc(64 * 8);
    // Two examples of 32 rows; the second (the worker's half) lies far beyond the memory.
    assert.throws(() => e.gemm(a.ptr / 4, 2 ** 28, 8, 32, 2, 8, b.ptr / 4, 8, c.ptr / 4), /worker thread failed/);
    // The engine still works afterwards.
    e.gemm(a.ptr / 4, 256, 8, 32, 2, 8, b.ptr / 4, 8, c.ptr / 4);
  });
});
