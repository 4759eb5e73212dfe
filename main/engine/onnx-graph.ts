import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const DType = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float16: 10 } as const;

/** onnxruntime's contrib operator domain (GroupQueryAttention, MatMulNBits, SkipSimplifiedLayerNormalization…). */
export const MS_DOMAIN = 'com.microsoft';
export type DTypeName = keyof typeof DType;

/** A dimension is a fixed size or a symbolic name (dynamic axis). */
export type Dim = number | string;

type AttrValue = number | number[] | string | { floats: number[] } | { float: number };

/**
 * Minimal ONNX graph builder over the official protobuf schema (onnx-proto).
 * Names are generated so callers compose ops as expressions: `g.op('MatMul', [a, b])`.
 */
export class GraphBuilder {
  private readonly nodes: INodeProto[] = [];
  private readonly initializers: ITensorProto[] = [];
  private readonly inputs: IValueInfoProto[] = [];
  private readonly outputs: IValueInfoProto[] = [];
  private counter = 0;
  private readonly constCache = new Map<string, string>();
  private readonly domains = new Set<string>();

  constructor(readonly name: string, readonly opset = 17) {}

  input(name: string, dtype: DTypeName, shape: Dim[]): string {
    this.inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  output(name: string, dtype: DTypeName, shape: Dim[], from: string): string {
    this.op('Identity', [from], {}, name);
    return this.declareOutput(name, dtype, shape);
  }

  /** Makes a value some node already produces under this name a graph output (no Identity copy). */
  declareOutput(name: string, dtype: DTypeName, shape: Dim[]): string {
    this.outputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** Adds a float32 initializer (raw little-endian bytes). */
  weight(name: string, dims: number[], data: Float32Array): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) {
      throw new Error(`Weight ${name} has ${data.length} values, expected shape [${dims.join(', ')}].`);
    }
    this.initializers.push({
      name,
      dims,
      dataType: DType.float32,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  /** An initializer of any element type from its raw little-endian bytes (float16 weights, packed 4-bit blocks). */
  tensor(name: string, dims: number[], dtype: DTypeName, raw: Uint8Array): string {
    this.initializers.push({ name, dims, dataType: DType[dtype], rawData: raw });
    return name;
  }

  /** An int64 constant, shared between uses. */
  ints(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = `const_${this.counter++}`;
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims, dataType: DType.int64, rawData: new Uint8Array(raw.buffer) });
    this.constCache.set(key, name);
    return name;
  }

  /** A float32 constant, shared between uses. */
  floats(values: number[] | Float32Array, dims: number[] = [values.length]): string {
    const arr = Float32Array.from(values);
    const key = `f32:${dims.join('x')}:${Array.from(arr).join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = `const_${this.counter++}`;
    this.initializers.push({ name, dims, dataType: DType.float32, rawData: new Uint8Array(arr.buffer) });
    this.constCache.set(key, name);
    return name;
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outName?: string): string {
    const out = outName ?? `${opType.toLowerCase()}_${this.counter++}`;
    this.node(opType, '', inputs, [out], attrs);
    return out;
  }

  /** Ops with several outputs (Split). */
  opMulti(opType: string, inputs: string[], outputs: number, attrs: Record<string, AttrValue> = {}): string[] {
    const outs = Array.from({ length: outputs }, () => `${opType.toLowerCase()}_${this.counter++}`);
    this.node(opType, '', inputs, outs, attrs);
    return outs;
  }

  /**
   * A contrib op of onnxruntime's com.microsoft domain. `''` in `inputs` skips an optional input; `outputs` is a
   * count, or names where `''` leaves an optional output out and `null` asks for a generated name.
   */
  contrib(opType: string, inputs: string[], outputs: number | (string | null)[], attrs: Record<string, AttrValue> = {}): string[] {
    const names = typeof outputs === 'number' ? Array<string | null>(outputs).fill(null) : outputs;
    const outs = names.map((n) => n ?? `${opType.toLowerCase()}_${this.counter++}`);
    this.node(opType, MS_DOMAIN, inputs, outs, attrs);
    return outs;
  }

  private node(opType: string, domain: string, input: string[], output: string[], attrs: Record<string, AttrValue>): void {
    if (domain) this.domains.add(domain);
    this.nodes.push({
      opType,
      domain: domain || undefined,
      name: `${opType}_${this.counter++}`,
      input,
      output,
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    });
  }

  toBytes(producer = 'perpetua'): Uint8Array {
    const initializer = externalSink ? this.initializers.map((t) => externalize(t, externalSink!)) : this.initializers;
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: producer,
      opsetImport: [{ domain: '', version: this.opset }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** Where toBytes() stores large initializers while `withExternalData` runs (ONNX external data). */
interface ExternalSink {
  location: string;
  minBytes: number;
  chunks: Uint8Array[];
  size: number;
}

let externalSink: ExternalSink | null = null;

/** The bytes of an ONNX model whose large weights live in a separate file beside it. */
export interface ExternalDataModel<T> {
  result: T;
  /** the file name the model refers to, relative to the model file */
  location: string;
  /** that file's contents, in order (each tensor starts on a 4096-byte boundary) */
  chunks: Uint8Array[];
  size: number;
}

/**
 * Runs `build` (which calls `GraphBuilder.toBytes()`) so that every initializer of at least `minBytes` is written
 * to the external data file `location` instead of inline: the way models past protobuf's 2 GB limit are stored.
 * Synchronous, so no other build can interleave.
 */
export function withExternalData<T>(location: string, build: () => T, minBytes = 1024): ExternalDataModel<T> {
  if (externalSink) throw new Error('withExternalData cannot be nested.');
  const sink: ExternalSink = { location, minBytes, chunks: [], size: 0 };
  externalSink = sink;
  try {
    const result = build();
    return { result, location, chunks: sink.chunks, size: sink.size };
  } finally {
    externalSink = null;
  }
}

const EXTERNAL_ALIGNMENT = 4096;

function externalize(t: ITensorProto, sink: ExternalSink): ITensorProto {
  const raw = t.rawData;
  if (!raw || raw.byteLength < sink.minBytes) return t;
  const pad = (EXTERNAL_ALIGNMENT - (sink.size % EXTERNAL_ALIGNMENT)) % EXTERNAL_ALIGNMENT;
  if (pad) sink.chunks.push(new Uint8Array(pad));
  const offset = sink.size + pad;
  sink.chunks.push(raw);
  sink.size = offset + raw.byteLength;
  return {
    name: t.name,
    dims: t.dims,
    dataType: t.dataType,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: sink.location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.byteLength) },
    ],
  };
}

function valueInfo(name: string, dtype: DTypeName, shape: Dim[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DType[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.FLOAT, f: v.float };
}
