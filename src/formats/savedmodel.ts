import type { Finding } from './finding.js';
import { ProtoReader } from './protobuf.js';
import { Cursor, formatError, type ByteReader } from './reader.js';

/**
 * TensorFlow SavedModel `saved_model.pb`: SavedModel.meta_graphs(2) → MetaGraphDef.graph_def(2)
 * → GraphDef.node(1) / library(2).function(1).node_def(3) → NodeDef.op(2). Loading a SavedModel
 * and calling it runs these ops: file-reading and -writing ops exfiltrate or plant files (the ops
 * modelscan flags), PyFunc ops run Python. Ops off the allow-list are inconclusive (custom ops
 * load native libraries).
 */

const F = 'savedmodel';
const MAX_DEPTH = 8;

/** Ops that reach the file system or run Python [modelscan unsafe_tf_operators; TF op registry]. */
const UNSAFE_OPS: Record<string, string> = {
  ReadFile: 'reads any file', WriteFile: 'writes any file', MatchingFiles: 'lists the file system',
  PyFunc: 'runs Python', PyFuncStateless: 'runs Python', EagerPyFunc: 'runs Python',
  ImmutableConst: 'memory-maps a file', TextLineDataset: 'reads files', TextLineDatasetV2: 'reads files',
  FixedLengthRecordDataset: 'reads files', FixedLengthRecordDatasetV2: 'reads files', TFRecordDataset: 'reads files',
  TFRecordDatasetV2: 'reads files', LoadAndRemapMatrix: 'reads checkpoint files', DebugIdentityV2: 'writes debug dumps',
  DebugIdentityV3: 'writes debug dumps', WriteSummary: 'writes event files', CreateSummaryFileWriter: 'writes event files',
  Save: 'writes files outside the SavedModel saver', SaveSlices: 'writes files outside the SavedModel saver',
  MakeIterator: 'runs datasets', DatasetToSingleElement: 'runs datasets',
};

/** Inference, control-flow and SavedModel saver ops (the save/restore subgraph writes only its own variables). */
const ALLOWED_OPS = new Set(`
Const Identity IdentityN NoOp Placeholder PlaceholderWithDefault VarHandleOp ReadVariableOp AssignVariableOp VariableV2 Variable Assign
StatefulPartitionedCall PartitionedCall If StatelessIf While StatelessWhile Case StatelessCase Switch Merge Enter Exit NextIteration LoopCond
SaveV2 RestoreV2 MergeV2Checkpoints ShardedFilename StringJoin StaticRegexFullMatch Select SelectV2 Pack Unpack Concat ConcatV2 Split SplitV
Add AddV2 AddN Sub Mul Div RealDiv FloorDiv FloorMod Mod Maximum Minimum Neg Abs Sign Square Sqrt Rsqrt Exp Log Log1p Pow Reciprocal Erf Tanh Sigmoid
Relu Relu6 Elu Selu LeakyRelu Softplus Softsign Softmax LogSoftmax Gelu MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3 Einsum BiasAdd Conv2D Conv3D
DepthwiseConv2dNative Conv2DBackpropInput MaxPool MaxPoolV2 AvgPool MaxPool3D AvgPool3D FusedBatchNorm FusedBatchNormV3 LRN Reshape Squeeze ExpandDims
Transpose Shape ShapeN Size Rank Fill ZerosLike OnesLike Range Tile Slice StridedSlice Gather GatherV2 GatherNd ScatterNd Cast Bitcast Round Floor Ceil
Sum Mean Max Min Prod All Any ArgMax ArgMin TopKV2 Equal NotEqual Less LessEqual Greater GreaterEqual LogicalAnd LogicalOr LogicalNot Where Cumsum
Pad PadV2 MirrorPad ResizeBilinear ResizeNearestNeighbor OneHot Sin Cos SquaredDifference Rsqrt L2Loss BroadcastTo BroadcastArgs Einsum
StopGradient PreventGradient CheckNumerics Assert NoOp ReverseV2 Cumprod MatrixBandPart LayerNorm DisableCopyOnRead Softmax Snapshot EnsureShape
TensorListFromTensor TensorListGetItem TensorListSetItem TensorListReserve TensorListStack TensorListLength TensorListElementShape
StringToHashBucketFast LookupTableFindV2 LookupTableImportV2 HashTableV2 MutableHashTableV2 LookupTableSizeV2 Unique Bucketize
`.split(/\s+/).filter(Boolean));

async function nodeOps(p: ProtoReader, end: number, out: Map<string, number>): Promise<void> {
  let t;
  while ((t = await p.tag(end))) {
    if (t[0] === 2 && t[1] === 2) {
      const op = await p.string(end, 256);
      out.set(op, (out.get(op) ?? 0) + 1);
    } else await p.skip(t[1], end);
  }
}

/** Walks the nested messages down to every NodeDef, reading only the fields on the path. */
async function walk(p: ProtoReader, end: number, level: 'saved' | 'meta' | 'graph' | 'library' | 'function', out: Map<string, number>, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) throw formatError(F, 'messages nest too deeply');
  const next: Partial<Record<number, 'meta' | 'graph' | 'library' | 'function' | 'node'>> =
    level === 'saved' ? { 2: 'meta' } : level === 'meta' ? { 2: 'graph' } : level === 'graph' ? { 1: 'node', 2: 'library' } : level === 'library' ? { 1: 'function' } : { 3: 'node' };
  let t;
  while ((t = await p.tag(end))) {
    const sub = next[t[0]];
    if (sub === undefined || t[1] !== 2) {
      await p.skip(t[1], end);
      continue;
    }
    const n = await p.len(end);
    const stop = p.c.pos + n;
    if (sub === 'node') await nodeOps(p, stop, out);
    else await walk(p, stop, sub, out, depth + 1);
    if (p.c.pos !== stop) throw formatError(F, 'message overruns its length');
  }
}

export async function analyzeSavedModel(path: string, r: ByteReader): Promise<{ ops: Map<string, number>; findings: Finding[] }> {
  if (r.size > 2 ** 31) throw formatError(F, `file of ${r.size} bytes exceeds the 2 GiB protobuf limit`);
  const p = new ProtoReader(new Cursor(r, F, 0, r.size), F);
  const ops = new Map<string, number>();
  await walk(p, r.size, 'saved', ops, 0);
  if (ops.size === 0) throw formatError(F, 'no graph nodes found: not a SavedModel');
  const findings: Finding[] = [];
  const unknown: string[] = [];
  for (const op of [...ops.keys()].sort()) {
    if (UNSAFE_OPS[op]) findings.push({ path, severity: 'unsafe', kind: 'savedmodel-op', detail: `TensorFlow op ${op} ${UNSAFE_OPS[op]} when the model runs` });
    else if (!ALLOWED_OPS.has(op)) unknown.push(op);
  }
  if (unknown.length > 0) {
    findings.push({ path, severity: 'inconclusive', kind: 'savedmodel-op', detail: `TensorFlow ops outside the allow-list: ${unknown.slice(0, 20).join(', ')}${unknown.length > 20 ? ` and ${unknown.length - 20} more` : ''}` });
  }
  return { ops, findings };
}
