import { wasm, type WasmMemory } from '../shared/wasm.js';

/**
 * RoPE re-rotation of rotate_half float32 keys with WebAssembly SIMD (four pairs per instruction), on arrays that
 * live in a WebAssembly memory: scalar JavaScript turns one pair at a time, and an eviction turns every kept key.
 * The module is written out here byte by byte (a dozen instructions; no toolchain needed):
 *
 *   rot(dst, src, rows, rowBytes, halfBytes, cos, sin)   ;; byte offsets into the memory
 *     for each of `rows` rows (dst and src step rowBytes), for j in [0, halfBytes) step 16:
 *       x1 = src[j], x2 = src[halfBytes + j], c = cos[j], s = sin[j]      ;; f32x4 each
 *       dst[j] = x1·c − x2·s;  dst[halfBytes + j] = x2·c + x1·s
 *
 * Each block is read before it is written, so dst = src (turn in place) and dst below src (move down while
 * turning, rows read ahead of where they are written) are both safe.
 */
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const add = 0x6a;
const load = [0xfd, 0x00, 0x00, 0x00]; // v128.load align=1 offset=0
const store = [0xfd, 0x0b, 0x00, 0x00]; // v128.store
const [mul4, sub4, add4] = [[0xfd, 0xe6, 0x01], [0xfd, 0xe5, 0x01], [0xfd, 0xe4, 0x01]]; // f32x4.mul, .sub, .add
// params 0 dst, 1 src, 2 rows, 3 rowBytes, 4 halfBytes, 5 cos, 6 sin; locals 7 j (i32), 8 x1, 9 x2, 10 c, 11 s (v128)
const BODY = [
  2, 1, 0x7f, 4, 0x7b, // locals: 1 × i32, 4 × v128
  0x02, 0x40, 0x03, 0x40, // block, loop (rows)
  ...get(2), 0x45, 0x0d, 1, // rows == 0 → done
  0x41, 0, ...set(7), // j = 0
  0x03, 0x40, // loop (j)
  ...get(1), ...get(7), add, ...load, ...set(8),
  ...get(1), ...get(4), add, ...get(7), add, ...load, ...set(9),
  ...get(5), ...get(7), add, ...load, ...set(10),
  ...get(6), ...get(7), add, ...load, ...set(11),
  ...get(0), ...get(7), add, ...get(8), ...get(10), ...mul4, ...get(9), ...get(11), ...mul4, ...sub4, ...store,
  ...get(0), ...get(4), add, ...get(7), add, ...get(9), ...get(10), ...mul4, ...get(8), ...get(11), ...mul4, ...add4, ...store,
  ...get(7), 0x41, 16, add, 0x22, 7, ...get(4), 0x49, 0x0d, 0, // j += 16; j < halfBytes → again
  0x0b, // end loop (j)
  ...get(0), ...get(3), add, ...set(0),
  ...get(1), ...get(3), add, ...set(1),
  ...get(2), 0x41, 1, 0x6b, ...set(2),
  0x0c, 0, // next row
  0x0b, 0x0b, 0x0b, // end loop, end block, end function
];

const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    const low = n & 0x7f;
    n >>>= 7;
    out.push(n ? low | 0x80 : low);
  } while (n);
  return out;
};
const name = (s: string) => [...leb(s.length), ...Buffer.from(s)];
const section = (id: number, bytes: number[]) => [id, ...leb(bytes.length), ...bytes];

const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
  ...section(1, [1, 0x60, 7, ...Array(7).fill(0x7f), 0]), // type: (i32 × 7) → ()
  ...section(2, [1, ...name('m'), ...name('mem'), 0x02, 0x00, 0x00]), // import m.mem: memory
  ...section(3, [1, 0]), // function 0 has type 0
  ...section(7, [1, ...name('rot'), 0x00, 0]), // export "rot"
  ...section(10, [1, ...leb(BODY.length), ...BODY]),
]);

export type SimdRotate = (dst: number, src: number, rows: number, rowBytes: number, halfBytes: number, cos: number, sin: number) => void;

let compiled: object | null | undefined;
const instances = new WeakMap<WasmMemory, SimdRotate>();

/** The kernel bound to one memory, or null where this runtime has no WebAssembly SIMD. */
export function simdRotate(memory: WasmMemory): SimdRotate | null {
  if (compiled === undefined) {
    try {
      compiled = new wasm.Module(MODULE);
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return null;
  let rot = instances.get(memory);
  if (!rot) {
    rot = new wasm.Instance(compiled, { m: { mem: memory } }).exports.rot as SimdRotate;
    instances.set(memory, rot);
  }
  return rot;
}
