import { Cursor, formatError, type ByteReader } from './reader.js';
import { ProtoReader } from './protobuf.js';

const F = 'onnx';
/** Subgraphs (If/Loop/Scan) nest graph→node→attribute→graph; real models stay far below this. */
export const ONNX_MAX_DEPTH = 64;
const MAX_NODES = 5_000_000;

const ELEM_TYPES: Record<number, string> = {
  1: 'float', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'double', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
  17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2', 20: 'float8e5m2fnuz', 21: 'uint4', 22: 'int4',
  23: 'float4e2m1',
};

export interface OnnxExternalData {
  tensor: string;
  location: string;
  offset?: number;
  length?: number;
}

export interface OnnxValueInfo {
  name: string;
  /** e.g. `tensor(float)[N,3,224,224]`. */
  type: string;
}

export interface OnnxInfo {
  format: 'onnx';
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graphName?: string;
  opsets: { domain: string; version: number }[];
  metadata: Record<string, string>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** op_type (prefixed with its domain when not ai.onnx) → count, across all subgraphs. */
  ops: Record<string, number>;
  /** Node domains other than ai.onnx / ai.onnx.ml: native custom-op libraries. */
  customDomains: string[];
  nodeCount: number;
  initializerCount: number;
  /** Tensors held in node attributes (Constant nodes). */
  constantTensorCount: number;
  /** Elements of initializers and constant tensors. */
  parameterCount: number;
  /** Element count per initializer data type. */
  dtypes: Record<string, number>;
  externalData: OnnxExternalData[];
  hasTrainingInfo: boolean;
  functionCount: number;
}

interface TensorFacts {
  name: string;
  elements: bigint;
  dataType: string;
  external?: OnnxExternalData;
}

class OnnxParser {
  readonly p: ProtoReader;
  readonly info: OnnxInfo = {
    format: 'onnx', opsets: [], metadata: {}, inputs: [], outputs: [], ops: {}, customDomains: [], nodeCount: 0,
    initializerCount: 0, constantTensorCount: 0, parameterCount: 0, dtypes: {}, externalData: [], hasTrainingInfo: false, functionCount: 0,
  };
  private params = 0n;
  private readonly domains = new Set<string>();

  constructor(c: Cursor) {
    this.p = new ProtoReader(c, F);
  }

  private get pos(): number {
    return this.p.c.pos;
  }

  private async sub(end: number, depth: number, fn: (end: number, depth: number) => Promise<void>): Promise<void> {
    if (depth > ONNX_MAX_DEPTH) throw formatError(F, `messages nested deeper than ${ONNX_MAX_DEPTH}`);
    const len = await this.p.len(end);
    const subEnd = this.pos + len;
    await fn(subEnd, depth);
    if (this.pos !== subEnd) throw formatError(F, `message ends at ${this.pos}, expected ${subEnd}`);
  }

  async model(end: number): Promise<OnnxInfo> {
    let sawGraph = false;
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      const [field, wire] = t;
      if (field === 1 && wire === 0) this.info.irVersion = await this.p.uint('ir_version');
      else if (field === 2 && wire === 2) this.info.producerName = await this.p.string(end, 4096);
      else if (field === 3 && wire === 2) this.info.producerVersion = await this.p.string(end, 4096);
      else if (field === 4 && wire === 2) this.info.domain = await this.p.string(end, 4096);
      else if (field === 5 && wire === 0) this.info.modelVersion = Number(await this.p.int64());
      else if (field === 6 && wire === 2) this.info.docString = (await this.p.string(end, 1 << 16)).slice(0, 4096);
      else if (field === 7 && wire === 2) {
        sawGraph = true;
        await this.sub(end, 1, (e, d) => this.graph(e, d, true));
      } else if (field === 8 && wire === 2) await this.sub(end, 1, (e) => this.opset(e));
      else if (field === 14 && wire === 2) await this.sub(end, 1, (e) => this.metadataProp(e));
      else if (field === 20 && wire === 2) {
        this.info.hasTrainingInfo = true;
        await this.p.skip(wire, end);
      } else if (field === 25 && wire === 2) {
        this.info.functionCount++;
        await this.sub(end, 1, (e, d) => this.function(e, d));
      } else await this.p.skip(wire, end);
    }
    // Arbitrary bytes often "parse" as a few protobuf fields; a model without a graph is not ONNX.
    if (!sawGraph) throw formatError(F, 'no graph in ModelProto');
    if (this.params > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(F, 'parameter count out of range');
    this.info.parameterCount = Number(this.params);
    this.info.customDomains = [...this.domains].sort();
    return this.info;
  }

  private async opset(end: number): Promise<void> {
    let domain = '';
    let version = 0;
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      if (t[0] === 1 && t[1] === 2) domain = await this.p.string(end, 1024);
      else if (t[0] === 2 && t[1] === 0) version = Number(await this.p.int64());
      else await this.p.skip(t[1], end);
    }
    this.info.opsets.push({ domain: domain === '' ? 'ai.onnx' : domain, version });
  }

  private async keyValue(end: number): Promise<[string, string]> {
    let key = '';
    let value = '';
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      if (t[0] === 1 && t[1] === 2) key = await this.p.string(end, 4096);
      else if (t[0] === 2 && t[1] === 2) value = await this.p.string(end, 1 << 16);
      else await this.p.skip(t[1], end);
    }
    return [key, value];
  }

  private async metadataProp(end: number): Promise<void> {
    const [k, v] = await this.keyValue(end);
    if (Object.keys(this.info.metadata).length < 1024) this.info.metadata[k] = v.slice(0, 4096);
  }

  private async graph(end: number, depth: number, top: boolean): Promise<void> {
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      const [field, wire] = t;
      if (field === 1 && wire === 2) await this.sub(end, depth + 1, (e, d) => this.node(e, d));
      else if (field === 2 && wire === 2 && top) this.info.graphName = await this.p.string(end, 4096);
      else if (field === 5 && wire === 2) {
        let facts: TensorFacts | undefined;
        await this.sub(end, depth + 1, async (e) => {
          facts = await this.tensor(e);
        });
        this.countInitializer(facts!);
      } else if (field === 15 && wire === 2) await this.sub(end, depth + 1, (e) => this.sparseInitializer(e));
      else if ((field === 11 || field === 12) && wire === 2 && top) {
        let vi: OnnxValueInfo | undefined;
        await this.sub(end, depth + 1, async (e, d) => {
          vi = await this.valueInfo(e, d);
        });
        (field === 11 ? this.info.inputs : this.info.outputs).push(vi!);
      } else await this.p.skip(wire, end);
    }
  }

  private countInitializer(t: TensorFacts): void {
    this.info.initializerCount++;
    this.addParams(t);
  }

  private addParams(t: TensorFacts): void {
    this.params += t.elements;
    this.info.dtypes[t.dataType] = (this.info.dtypes[t.dataType] ?? 0) + Number(t.elements);
  }

  private async sparseInitializer(end: number): Promise<void> {
    const dims: bigint[] = [];
    let dataType = 'undefined';
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      if (t[0] === 1 && t[1] === 2) {
        await this.sub(end, ONNX_MAX_DEPTH, async (e) => {
          dataType = (await this.tensor(e)).dataType;
        });
      } else if (t[0] === 3) await this.p.repeatedInt64(t[1], end, dims, 64);
      else await this.p.skip(t[1], end);
    }
    this.countInitializer({ name: '', elements: product(dims), dataType });
  }

  private async node(end: number, depth: number): Promise<void> {
    let opType = '';
    let domain = '';
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      const [field, wire] = t;
      if (field === 4 && wire === 2) opType = await this.p.string(end, 1024);
      else if (field === 7 && wire === 2) domain = await this.p.string(end, 1024);
      else if (field === 5 && wire === 2) await this.sub(end, depth + 1, (e, d) => this.attribute(e, d));
      else await this.p.skip(wire, end);
    }
    this.recordOp(opType, domain);
  }

  private recordOp(opType: string, domain: string): void {
    if (++this.info.nodeCount > MAX_NODES) throw formatError(F, `more than ${MAX_NODES} nodes`);
    const std = domain === '' || domain === 'ai.onnx' || domain === 'ai.onnx.ml';
    if (!std) this.domains.add(domain);
    const key = std ? opType : `${domain}:${opType}`;
    if (key in this.info.ops || Object.keys(this.info.ops).length < 4096) this.info.ops[key] = (this.info.ops[key] ?? 0) + 1;
  }

  private async attribute(end: number, depth: number): Promise<void> {
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      const [field, wire] = t;
      // 5 t / 10 tensors: exporters such as paddle2onnx store weights as Constant nodes, and these
      // tensors can point to external data too. 6 g / 11 graphs: subgraphs.
      if ((field === 5 || field === 10) && wire === 2) {
        await this.sub(end, depth + 1, async (e) => {
          const t = await this.tensor(e);
          this.addParams(t);
          this.info.constantTensorCount++;
        });
      }
      else if ((field === 6 || field === 11) && wire === 2) await this.sub(end, depth + 1, (e, d) => this.graph(e, d, false));
      else await this.p.skip(wire, end);
    }
  }

  private async function(end: number, depth: number): Promise<void> {
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      if (t[0] === 7 && t[1] === 2) await this.sub(end, depth + 1, (e, d) => this.node(e, d));
      else await this.p.skip(t[1], end);
    }
  }

  private async tensor(end: number): Promise<TensorFacts> {
    const dims: bigint[] = [];
    let dataType = 0;
    let name = '';
    let location = 0;
    const ext: Record<string, string> = {};
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      const [field, wire] = t;
      if (field === 1) await this.p.repeatedInt64(wire, end, dims, 64);
      else if (field === 2 && wire === 0) dataType = await this.p.uint('data_type');
      else if (field === 8 && wire === 2) name = await this.p.string(end, 4096);
      else if (field === 13 && wire === 2) {
        await this.sub(end, ONNX_MAX_DEPTH, async (e) => {
          const [k, v] = await this.keyValue(e);
          ext[k] = v;
        });
      } else if (field === 14 && wire === 0) location = await this.p.uint('data_location');
      else await this.p.skip(wire, end);
    }
    if (dims.some((d) => d < 0n)) throw formatError(F, `tensor "${name}" has a negative dimension`);
    const facts: TensorFacts = { name, elements: product(dims), dataType: ELEM_TYPES[dataType] ?? `type_${dataType}` };
    if (location === 1 || ext.location !== undefined) {
      const e: OnnxExternalData = { tensor: name, location: ext.location ?? '' };
      const off = ext.offset !== undefined ? Number(ext.offset) : undefined;
      const len = ext.length !== undefined ? Number(ext.length) : undefined;
      if (off !== undefined && !(Number.isSafeInteger(off) && off >= 0)) throw formatError(F, `tensor "${name}" external offset ${ext.offset} is invalid`);
      if (len !== undefined && !(Number.isSafeInteger(len) && len >= 0)) throw formatError(F, `tensor "${name}" external length ${ext.length} is invalid`);
      if (off !== undefined) e.offset = off;
      if (len !== undefined) e.length = len;
      if (this.info.externalData.length < 1_000_000) this.info.externalData.push(e);
      facts.external = e;
    }
    return facts;
  }

  private async valueInfo(end: number, depth: number): Promise<OnnxValueInfo> {
    let name = '';
    let type = 'unknown';
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      if (t[0] === 1 && t[1] === 2) name = await this.p.string(end, 4096);
      else if (t[0] === 2 && t[1] === 2) {
        await this.sub(end, depth + 1, async (e, d) => {
          type = await this.typeProto(e, d);
        });
      } else await this.p.skip(t[1], end);
    }
    return { name, type };
  }

  private async typeProto(end: number, depth: number): Promise<string> {
    let out = 'other';
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      if (t[0] === 1 && t[1] === 2) {
        await this.sub(end, depth + 1, async (e, d) => {
          out = await this.tensorType(e, d);
        });
      } else await this.p.skip(t[1], end);
    }
    return out;
  }

  private async tensorType(end: number, depth: number): Promise<string> {
    let elem = 0;
    let shape: string[] | undefined;
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      if (t[0] === 1 && t[1] === 0) elem = await this.p.uint('elem_type');
      else if (t[0] === 2 && t[1] === 2) {
        shape = [];
        await this.sub(end, depth + 1, async (e, d) => {
          for (let s = await this.p.tag(e); s; s = await this.p.tag(e)) {
            if (s[0] === 1 && s[1] === 2) await this.sub(e, d + 1, async (de) => void shape!.push(await this.dim(de)));
            else await this.p.skip(s[1], e);
            if (shape!.length > 64) throw formatError(F, 'tensor shape has more than 64 dimensions');
          }
        });
      } else await this.p.skip(t[1], end);
    }
    return `tensor(${ELEM_TYPES[elem] ?? `type_${elem}`})${shape ? `[${shape.join(',')}]` : ''}`;
  }

  private async dim(end: number): Promise<string> {
    let d = '?';
    for (let t = await this.p.tag(end); t; t = await this.p.tag(end)) {
      if (t[0] === 1 && t[1] === 0) {
        const v = await this.p.int64();
        d = v < 0n ? '?' : v.toString();
      } else if (t[0] === 2 && t[1] === 2) d = (await this.p.string(end, 256)) || '?';
      else await this.p.skip(t[1], end);
    }
    return d;
  }
}

function product(dims: bigint[]): bigint {
  return dims.reduce((a, d) => a * d, 1n);
}

export async function parseOnnx(r: ByteReader): Promise<OnnxInfo> {
  if (r.size === 0) throw formatError(F, 'empty file');
  // ModelProto is capped at 2 GiB by protobuf; larger models use external data.
  if (r.size > 2 ** 31) throw formatError(F, `file of ${r.size} bytes exceeds the 2 GiB protobuf limit`);
  const c = new Cursor(r, F, 0, r.size, 1 << 20);
  return new OnnxParser(c).model(r.size);
}
