/**
 * The pass rule for pickles: every global must be an exact `module.name` pair that PyTorch's
 * `weights_only=True` unpickler allows (`torch/_weights_only_unpickler.py` `_get_allowed_globals`).
 * Whole modules are never allowed: `numpy.__builtins__` and friends reach `eval` through an
 * "innocent" module (modelscan #330).
 */
const DTYPES = [
  'float32', 'float64', 'float16', 'bfloat16', 'complex32', 'complex64', 'complex128', 'uint8', 'uint16', 'uint32',
  'uint64', 'int8', 'int16', 'int32', 'int64', 'bool', 'qint8', 'quint8', 'qint32', 'quint4x2', 'quint2x4',
  'float8_e5m2', 'float8_e4m3fn', 'float8_e5m2fnuz', 'float8_e4m3fnuz', 'float8_e8m0fnu', 'float4_e2m1fn_x2',
  'bits1x8', 'bits2x4', 'bits4x2', 'bits8', 'bits16',
];
const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
  ComplexFloatStorage: 'C64', ComplexDoubleStorage: 'C128', QUInt8Storage: 'QUINT8', QInt8Storage: 'QINT8',
  QInt32Storage: 'QINT32', QUInt4x2Storage: 'QUINT4X2', QUInt2x4Storage: 'QUINT2X4', UntypedStorage: 'U8',
};
const TENSOR_CLASSES = ['FloatTensor', 'DoubleTensor', 'HalfTensor', 'BFloat16Tensor', 'LongTensor', 'IntTensor',
  'ShortTensor', 'CharTensor', 'ByteTensor', 'BoolTensor'];
const REBUILD = ['tensor', 'tensor_v2', 'tensor_v3', 'parameter', 'parameter_with_state', 'qtensor', 'sparse_tensor',
  'meta_tensor_no_storage', 'nested_tensor', 'wrapper_subclass', 'device_tensor_from_numpy',
  'device_tensor_from_cpu_tensor'];
const LAYOUTS = ['strided', 'sparse_coo', 'sparse_csr', 'sparse_csc', 'sparse_bsr', 'sparse_bsc', '_mkldnn', 'jagged'];
const MEMORY_FORMATS = ['contiguous_format', 'channels_last', 'channels_last_3d', 'preserve_format'];
const QSCHEMES = ['per_tensor_affine', 'per_channel_affine', 'per_tensor_symmetric', 'per_channel_symmetric',
  'per_channel_affine_float_qparams'];

export const WEIGHTS_ONLY_ALLOWED: ReadonlySet<string> = new Set([
  'collections.OrderedDict', 'collections.Counter', 'torch.nn.parameter.Parameter', 'torch.serialization._get_layout',
  'torch.Size', 'torch.Tensor', 'torch.device', '_codecs.encode', 'builtins.bytearray', 'builtins.set',
  'builtins.complex', 'torch._tensor._rebuild_from_type_v2', 'torch.storage.UntypedStorage',
  'torch.storage.TypedStorage',
  ...DTYPES.map((d) => `torch.${d}`),
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
  ...TENSOR_CLASSES.map((t) => `torch.${t}`),
  ...REBUILD.map((r) => `torch._utils._rebuild_${r}`),
  ...LAYOUTS.map((l) => `torch.${l}`),
  ...MEMORY_FORMATS.map((m) => `torch.${m}`),
  ...QSCHEMES.map((q) => `torch.${q}`),
]);

export function storageDtype(module: string, name: string): string | undefined {
  return module === 'torch' || module === 'torch.storage' ? STORAGE_DTYPES[name] : undefined;
}

/**
 * Denylists only raise severity from "unknown" to "unsafe"; they never let anything pass.
 * Sources: picklescan and modelscan denylists. `os.system` pickles as `posix.system` / `nt.system`.
 */
const UNSAFE_MODULES = new Set([
  'os', 'nt', 'posix', 'subprocess', 'sys', 'socket', 'shutil', 'runpy', 'pty', 'pdb', 'bdb', 'pickle', '_pickle',
  'asyncio', 'ctypes', 'webbrowser', 'importlib', 'code', 'codeop', 'commands', 'multiprocessing', 'marshal',
  'platform', 'requests', 'urllib', 'httplib', 'http', 'aiohttp', 'ssl', 'telnetlib', 'ftplib', 'smtplib',
  'imaplib', 'poplib', 'pip', 'setuptools', 'distutils', 'sqlite3', 'tempfile', 'signal', 'threading',
  '_thread', 'zipimport', 'pydoc', 'timeit', 'cProfile', 'profile', 'trace', 'venv', 'ensurepip', 'builtins',
  '__builtin__', 'dill', 'joblib', 'uuid', '_osx_support', '_pyrepl', 'torch.utils.collect_env',
]);
const UNSAFE_PAIRS = new Set([
  'functools.partial', 'operator.attrgetter', 'operator.itemgetter', 'operator.methodcaller', '_operator.attrgetter',
  '_operator.itemgetter', '_operator.methodcaller', 'types.CodeType', 'types.FunctionType', 'torch.serialization.load',
  'torch.load', 'torch.storage._load_from_bytes', 'numpy.load', 'numpy.testing._private.utils.runstring',
  'torch._inductor.codecache.compile_file', 'pandas.read_csv', 'pandas.read_pickle',
]);

export type GlobalVerdict = 'allowed' | 'unsafe' | 'unknown';

export function judgeGlobal(module: string, name: string): GlobalVerdict {
  const full = `${module}.${name}`;
  if (WEIGHTS_ONLY_ALLOWED.has(full)) return 'allowed';
  const top = module.split('.')[0]!;
  if (UNSAFE_PAIRS.has(full) || UNSAFE_MODULES.has(module) || UNSAFE_MODULES.has(top)) return 'unsafe';
  // Dunder attributes reach interpreter internals (`numpy.__builtins__` → eval).
  if (name.startsWith('__') || name.includes('.__') || module.includes('__')) return 'unsafe';
  return 'unknown';
}
