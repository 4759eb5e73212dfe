/**
 * The part of the WebAssembly JavaScript API that Perpetua uses (TypeScript's ES libraries leave these types to the
 * DOM library): a memory whose buffer typed arrays view, and a module instantiated against it.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}

export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
