/**
 * A minimal WebAssembly binary writer: just the sections and opcodes the decimator and FM operator
 * kernels need.
 *
 * Why hand-encode rather than assemble WAT with `wabt`: the kernel is specialised to the filter
 * (every tap's load offset is an immediate), so it is generated from the taps anyway; emitting the
 * few dozen bytes of framing directly avoids a 3 MB dependency and a build step, and the kernel is
 * tested against the JS reference, which is what would catch an encoding mistake.
 */

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`uleb: ${n} is not a non-negative integer`);
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (for i32.const). */
export function sleb(n: number): number[] {
  if (!Number.isInteger(n)) throw new Error(`sleb: ${n} is not an integer`);
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** Value types. */
export const I32 = 0x7f;
export const V128 = 0x7b;

/** Opcodes used by the kernel (core and SIMD, the latter after the 0xfd prefix). */
export const op = {
  block: 0x02,
  loop: 0x03,
  br_if: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  f32Load: 0x2a,
  f32Store: 0x38,
  i32Const: 0x41,
  i32LtU: 0x49,
  i32Add: 0x6a,
  blockVoid: 0x40,
} as const;

/** SIMD opcodes (LEB-encoded after 0xfd). */
export const simd = {
  v128Load: 0x00,
  v128Load32Splat: 0x09,
  v128Store: 0x0b,
  v128Const: 0x0c,
  i8x16Shuffle: 0x0d,
  v128Xor: 0x51,
  i32x4Shl: 0xab,
  i64x2Add: 0xce,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4ConvertI32x4S: 0xfa,
} as const;

/** Encodes a SIMD instruction with an optional memarg (align log2, offset). */
export function simdOp(code: number, memarg?: readonly [number, number]): number[] {
  return [0xfd, ...uleb(code), ...(memarg ? [...uleb(memarg[0]), ...uleb(memarg[1])] : [])];
}

/** `v128.const` of four float32 lanes. */
export function f32x4Const(lanes: readonly [number, number, number, number]): number[] {
  return [...simdOp(simd.v128Const), ...new Uint8Array(Float32Array.from(lanes).buffer)];
}

/** `i8x16.shuffle` of the two v128 operands on the stack; `lanes` are 16 byte indices 0…31. */
export function shuffleOp(lanes: readonly number[]): number[] {
  if (lanes.length !== 16 || lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31)) {
    throw new Error('shuffleOp: expected 16 byte indices 0…31');
  }
  return [...simdOp(simd.i8x16Shuffle), ...lanes];
}

/** A function body: locals as (count, type) runs, then code (without the final `end`). */
export interface FuncBody {
  readonly params: readonly number[];
  readonly locals: readonly (readonly [number, number])[];
  readonly code: readonly number[];
  readonly exportName: string;
}

function section(id: number, payload: number[]): number[] {
  return [id, ...uleb(payload.length), ...payload];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const bytes = Array.from(new TextEncoder().encode(s));
  return [...uleb(bytes.length), ...bytes];
}

/**
 * Assembles a module with the given functions, each with its own type `(params) → ()`, exported
 * under its name, and either one exported memory (`memory`, growable, `initialPages` × 64 KiB) or,
 * with `importSharedMemory`, a shared memory imported as `env.memory` (at least one page, at most
 * `maxPages`) that worker threads can share.
 */
export function assembleModule(
  funcs: readonly FuncBody[], initialPages: number, importSharedMemory?: { readonly maxPages: number },
): Uint8Array {
  const types = vec(funcs.map((f) => [0x60, ...uleb(f.params.length), ...f.params, 0x00]));
  const funcSec = vec(funcs.map((_, i) => uleb(i)));
  const funcExports = funcs.map((f, i) => [...name(f.exportName), 0x00, ...uleb(i)]);
  if (importSharedMemory !== undefined) {
    // limits flag 0x03: shared, with a maximum
    const imports = vec([[...name('env'), ...name('memory'), 0x02, 0x03, ...uleb(1), ...uleb(importSharedMemory.maxPages)]]);
    return Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      ...section(1, types),
      ...section(2, imports),
      ...section(3, funcSec),
      ...section(7, vec(funcExports)),
      ...section(10, codeSection(funcs)),
    ]);
  }
  const memSec = vec([[0x00, ...uleb(initialPages)]]);
  const exports = vec([[...name('memory'), 0x02, 0x00], ...funcExports]);
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types),
    ...section(3, funcSec),
    ...section(5, memSec),
    ...section(7, exports),
    ...section(10, codeSection(funcs)),
  ]);
}

function codeSection(funcs: readonly FuncBody[]): number[] {
  return vec(
    funcs.map((f) => {
      const body = [...vec(f.locals.map(([n, t]) => [...uleb(n), t])), ...f.code, op.end];
      return [...uleb(body.length), ...body];
    }),
  );
}

/** The slice of the WebAssembly JS API the kernels use, typed here once: the project's `lib` is
 * plain ES2022 (no DOM) and @types/node 20 does not declare the global. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The WebAssembly namespace, as far as the kernels use it. */
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}

/** The runtime's WebAssembly namespace, or undefined where there is none. */
export function wasmApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}
