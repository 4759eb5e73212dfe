import { closeSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { openRegularFile } from '../shared/folder-file.js';

/** Where one initializer's bytes are: inline in the graph file, or in an external data file beside it. */
export interface InitializerInfo {
  name: string;
  dataType: number;
  dims: number[];
  /** raw_data inside the graph file */
  inline: { offset: number; length: number } | null;
  /** ONNX external data: the file (relative to the graph), offset and length */
  external: { location: string; offset: number; length: number } | null;
}

/** A graph input: its name and element type (TensorProto.DataType: 1 float, 10 float16, 7 int64, 9 bool, …). */
export interface GraphInput {
  name: string;
  elemType: number;
}

export interface OnnxContents {
  inputs: GraphInput[];
  /** the graph's outputs (same fields as an input) */
  outputs: GraphInput[];
  initializers: InitializerInfo[];
  /** the op type of every node of the main graph, "domain:op" for contrib ops (com.microsoft:GroupQueryAttention) */
  ops: string[];
}

/**
 * Reads the main graph's inputs, outputs and initializers of an ONNX file by walking its protobuf fields with positioned
 * reads, so a graph of gigabytes is never loaded: weight bytes are skipped, only names, types, shapes and locations
 * are read. (ModelProto.graph = 7; GraphProto: node 1, initializer 5, input 11, output 12; TensorProto: dims 1, data_type 2, name 8,
 * raw_data 9, external_data 13 of StringStringEntryProto key 1 / value 2; ValueInfoProto: name 1, type 2 →
 * TypeProto.tensor_type 1 → elem_type 1.)
 */
export function readOnnxContents(file: string): OnnxContents {
  const r = new FileFields(file);
  try {
    const found: OnnxContents = { inputs: [], outputs: [], initializers: [], ops: [] };
    r.fields(0, r.size, (field, at, length) => {
      if (field !== 7) return;
      r.fields(at, at + length, (gField, gAt, gLength) => {
        if (gField === 5) found.initializers.push(readTensor(r, gAt, gAt + gLength));
        if (gField === 11) found.inputs.push(readInput(r, gAt, gAt + gLength));
        if (gField === 12) found.outputs.push(readInput(r, gAt, gAt + gLength));
        if (gField === 1) found.ops.push(readOp(r, gAt, gAt + gLength));
      });
    });
    return found;
  } finally {
    r.close();
  }
}

/** NodeProto: op_type 4, domain 7. */
function readOp(r: FileFields, start: number, end: number): string {
  let op = '';
  let domain = '';
  r.fields(start, end, (field, at, length) => {
    if (field === 4) op = r.text(at, length);
    if (field === 7) domain = r.text(at, length);
  });
  return domain && domain !== 'ai.onnx' ? `${domain}:${op}` : op;
}

function readInput(r: FileFields, start: number, end: number): GraphInput {
  const input: GraphInput = { name: '', elemType: 0 };
  r.fields(start, end, (field, at, length) => {
    if (field === 1) input.name = r.text(at, length);
    if (field !== 2) return;
    r.fields(at, at + length, (tField, tAt, tLength) => {
      if (tField !== 1) return;
      r.fields(tAt, tAt + tLength, (eField, _eAt, _eLength, value) => {
        if (eField === 1) input.elemType = value;
      });
    });
  });
  return input;
}

function readTensor(r: FileFields, start: number, end: number): InitializerInfo {
  const t: InitializerInfo = { name: '', dataType: 0, dims: [], inline: null, external: null };
  const entries: Record<string, string> = {};
  r.fields(start, end, (field, at, length, value) => {
    if (field === 1 && length < 0) t.dims.push(value);
    else if (field === 1) t.dims.push(...r.packedVarints(at, length));
    else if (field === 2) t.dataType = value;
    else if (field === 8) t.name = r.text(at, length);
    else if (field === 9) t.inline = { offset: at, length };
    else if (field === 13) {
      let key = '';
      let val = '';
      r.fields(at, at + length, (f, a, l) => {
        if (f === 1) key = r.text(a, l);
        if (f === 2) val = r.text(a, l);
      });
      entries[key] = val;
    }
  });
  if (entries.location !== undefined) {
    t.external = { location: entries.location, offset: Number(entries.offset ?? 0), length: Number(entries.length ?? -1) };
  }
  return t;
}

/** Protobuf fields of a byte range of a file: (field number, value offset, length or −1 for varints, varint value). */
class FileFields {
  private readonly fd: number;
  readonly size: number;
  private buf = Buffer.alloc(1 << 16);
  private bufAt = -1;
  private bufLength = 0;

  constructor(file: string) {
    // a FIFO or a folder named like a graph is refused, not waited on
    ({ fd: this.fd, size: this.size } = openRegularFile(file, Number.MAX_SAFE_INTEGER, basename(file)));
  }

  fields(start: number, end: number, visit: (field: number, at: number, length: number, value: number) => void): void {
    let at = start;
    while (at < end) {
      const [tag, afterTag] = this.varint(at);
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (wire === 0) {
        const [value, next] = this.varint(afterTag);
        visit(field, afterTag, -1, value);
        at = next;
      } else if (wire === 2) {
        const [length, next] = this.varint(afterTag);
        if (next + length > end) throw new RangeError('truncated ONNX field');
        visit(field, next, length, 0);
        at = next + length;
      } else if (wire === 1 || wire === 5) {
        at = afterTag + (wire === 1 ? 8 : 4);
      } else {
        throw new RangeError(`unexpected protobuf wire type ${wire}`);
      }
    }
  }

  packedVarints(at: number, length: number): number[] {
    const out: number[] = [];
    for (let p = at; p < at + length; ) {
      const [v, next] = this.varint(p);
      out.push(v);
      p = next;
    }
    return out;
  }

  text(at: number, length: number): string {
    const bytes = Buffer.alloc(length);
    readSync(this.fd, bytes, 0, length, at);
    return bytes.toString('utf8');
  }

  close(): void {
    closeSync(this.fd);
  }

  private byte(at: number): number {
    if (at < this.bufAt || at >= this.bufAt + this.bufLength) {
      this.bufLength = readSync(this.fd, this.buf, 0, this.buf.length, at);
      this.bufAt = at;
      if (this.bufLength === 0) throw new RangeError('truncated ONNX file');
    }
    return this.buf[at - this.bufAt];
  }

  /** A varint (up to 2^53, enough for offsets and dims) and the offset after it. */
  private varint(at: number): [number, number] {
    let value = 0;
    let scale = 1;
    for (let p = at; ; p++) {
      const b = this.byte(p);
      value += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) return [value, p + 1];
      if (p - at > 9) throw new RangeError('bad protobuf varint');
    }
  }
}
