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

/**
 * NumPy arrays inside state pickles (`np.save(allow_pickle=True)`, optimizer states, `torch.save`
 * of an ndarray) rebuild through exactly these globals. Decision: allowed. `_reconstruct(cls,
 * shape, dtype)` only allocates an empty array of `cls` (which must itself pass this list) and
 * `ndarray.__setstate__` / `dtype.__setstate__` copy plain data; none of them imports, calls or
 * evaluates anything named by the pickle. Object arrays hold further pickled objects, and those
 * are judged on their own globals. PyTorch keeps them off its default `weights_only` list only
 * because they are not torch types (its docs tell users to `add_safe_globals` them); picklescan
 * lists them as safe. The `numpy._core` spellings are NumPy 2's, `numpy.core` NumPy 1's.
 */
export const NUMPY_RECONSTRUCT: ReadonlySet<string> = new Set([
  'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct', 'numpy.ndarray', 'numpy.dtype',
]);

export function storageDtype(module: string, name: string): string | undefined {
  return module === 'torch' || module === 'torch.storage' ? STORAGE_DTYPES[name] : undefined;
}

/**
 * The deny-list never lets anything pass: it only turns "not on the allow-list" (inconclusive)
 * into "unsafe" and says why. Each entry is a module (`*`: every name in it and its submodules)
 * or exact `module.name` pairs (protocol 4 names may be dotted qualnames, `Class.method`), with
 * the reason and where the technique was published.
 */
interface Deny {
  names: '*' | readonly string[];
  reason: string;
  source: string;
}
const RUNS_COMMANDS = 'runs shell commands or programs';
const RUNS_CODE = 'evaluates or executes Python code';
const FILES = 'opens, writes or deletes files';
const NETWORK = 'opens network connections';
const NESTED = 'loads another pickle or model file, which this scan never sees';
const IMPORTS = 'imports any module by name, reaching every other callable';

const DENY: Readonly<Record<string, Deny>> = {
  // The classics: picklescan `_unsafe_globals`, modelscan `unsafe_globals`.
  os: { names: '*', reason: RUNS_COMMANDS, source: 'picklescan, modelscan' },
  posix: { names: '*', reason: `${RUNS_COMMANDS} (os.system pickles as posix.system on Linux)`, source: 'picklescan, modelscan' },
  nt: { names: '*', reason: `${RUNS_COMMANDS} (os.system pickles as nt.system on Windows)`, source: 'picklescan, modelscan' },
  subprocess: { names: '*', reason: RUNS_COMMANDS, source: 'picklescan, modelscan' },
  // subprocess's own C helper: the same fork+exec with subprocess itself never named.
  _posixsubprocess: { names: '*', reason: RUNS_COMMANDS, source: 'CPython Modules/_posixsubprocess.c (fork_exec behind subprocess)' },
  pty: { names: '*', reason: RUNS_COMMANDS, source: 'picklescan (pty.spawn)' },
  commands: { names: '*', reason: RUNS_COMMANDS, source: 'picklescan (Python 2 subprocess)' },
  sys: { names: '*', reason: 'reaches interpreter internals (sys.modules, settrace)', source: 'picklescan, modelscan' },
  builtins: { names: '*', reason: `${RUNS_CODE} (eval, exec, compile, open, getattr, __import__)`, source: 'picklescan, modelscan' },
  __builtin__: { names: '*', reason: `${RUNS_CODE} (protocol 0-2 spelling of builtins)`, source: 'picklescan, modelscan' },
  runpy: { names: '*', reason: RUNS_CODE, source: 'picklescan (runpy._run_code)' },
  code: { names: '*', reason: RUNS_CODE, source: 'picklescan (InteractiveInterpreter.runcode)' },
  codeop: { names: '*', reason: RUNS_CODE, source: 'modelscan' },
  marshal: { names: '*', reason: 'turns bytes into code objects', source: 'modelscan' },
  types: { names: ['CodeType', 'FunctionType', 'MethodType'], reason: 'builds functions from code objects', source: 'fickling' },
  importlib: { names: '*', reason: IMPORTS, source: 'picklescan #66 (import_module indirection)' },
  pkgutil: { names: ['resolve_name', 'get_importer', 'find_loader', 'ImpImporter', 'ImpLoader'], reason: IMPORTS, source: 'GHSA-vvpj-8cmc-gx39 (pkgutil.resolve_name universal bypass)' },
  pydoc: { names: '*', reason: `${IMPORTS} (pydoc.locate) and runs pagers`, source: 'picklescan' },
  zipimport: { names: '*', reason: 'imports code from an archive', source: 'modelscan' },
  ctypes: { names: '*', reason: 'loads native libraries and calls C functions', source: 'picklescan, modelscan' },
  _ctypes: { names: '*', reason: 'loads native libraries and calls C functions', source: 'the C module behind ctypes' },
  pickle: { names: '*', reason: NESTED, source: 'GHSA-84r2-jw7c-4r5q' },
  _pickle: { names: '*', reason: NESTED, source: 'GHSA-84r2-jw7c-4r5q' },
  dill: { names: '*', reason: NESTED, source: 'modelscan' },
  joblib: { names: ['load'], reason: NESTED, source: 'picklescan TODO list (joblib.load)' },
  shelve: { names: '*', reason: NESTED, source: 'pickle-backed store' },
  'torch.serialization': { names: ['load'], reason: NESTED, source: 'picklescan' },
  torch: { names: ['load', 'jit.load'], reason: NESTED, source: 'picklescan, reference notes section 5 (nested loaders)' },
  'torch.storage': { names: ['_load_from_bytes'], reason: NESTED, source: 'reference notes section 5 (nested loaders)' },
  'torch.utils._config_module': { names: ['ConfigModule.load_config'], reason: NESTED, source: 'picklescan' },
  'torch.utils.data.datapipes.utils.decoder': { names: ['basichandlers'], reason: NESTED, source: 'picklescan' },
  numpy: { names: ['load', 'fromfile', 'loadtxt', 'genfromtxt', 'ctypeslib.load_library'], reason: `${NESTED} or native code`, source: 'picklescan TODO list (numpy.load, ctypeslib.load_library)' },
  'numpy.ctypeslib': { names: '*', reason: 'loads native libraries', source: 'picklescan TODO list' },
  'numpy.f2py': { names: '*', reason: `${RUNS_CODE} (crackfortran getlincoef/_eval_length call eval)`, source: 'picklescan, fickling #210' },
  'numpy.testing._private.utils': { names: '*', reason: `${RUNS_CODE} (runstring is exec)`, source: 'picklescan' },
  pandas: { names: ['read_pickle', 'read_csv', 'read_json', 'read_html', 'read_xml', 'eval'], reason: `${NESTED}, fetches URLs or evaluates expressions`, source: 'reference notes section 5 (pandas read_csv(url))' },
  // Files.
  io: { names: ['FileIO', 'open', 'open_code', 'BufferedReader', 'BufferedWriter', 'TextIOWrapper'], reason: FILES, source: 'CVE-2025-10156 (_io.FileIO)' },
  _io: { names: ['FileIO', 'open', 'open_code', 'BufferedReader', 'BufferedWriter', 'TextIOWrapper'], reason: FILES, source: 'CVE-2025-10156' },
  shutil: { names: '*', reason: FILES, source: 'picklescan, CVE-2025-10155' },
  tempfile: { names: '*', reason: FILES, source: 'modelscan' },
  'distutils.file_util': { names: '*', reason: FILES, source: 'CVE-2025-10155 (write_file)' },
  distutils: { names: '*', reason: `${FILES} and runs build commands`, source: 'picklescan, CVE-2025-10155' },
  setuptools: { names: '*', reason: 'runs build commands', source: 'modelscan' },
  logging: { names: ['FileHandler', 'handlers.RotatingFileHandler', 'handlers.TimedRotatingFileHandler', 'handlers.WatchedFileHandler', 'handlers.SocketHandler', 'handlers.HTTPHandler', 'config.fileConfig', 'config.listen', 'config.dictConfig'], reason: `${FILES} (creating a FileHandler creates the file) or ${NETWORK}`, source: 'modelscan/fickling file-write primitives' },
  'logging.handlers': { names: '*', reason: `${FILES} or ${NETWORK}`, source: 'modelscan/fickling file-write primitives' },
  'logging.config': { names: '*', reason: `${RUNS_CODE} (fileConfig evaluates class names and arguments)`, source: 'CPython logging.config docs (eval in fileConfig)' },
  sqlite3: { names: '*', reason: FILES, source: 'modelscan' },
  // Debuggers, profilers, test runners: each takes a code string.
  pdb: { names: '*', reason: RUNS_CODE, source: 'picklescan, GHSA-46h3-79wf-xr6c' },
  bdb: { names: '*', reason: RUNS_CODE, source: 'picklescan, GHSA-46h3-79wf-xr6c' },
  trace: { names: '*', reason: RUNS_CODE, source: 'picklescan (Trace.run), GHSA-4675-36f9-wf6r' },
  profile: { names: '*', reason: RUNS_CODE, source: 'picklescan (Profile.run), GHSA-4675-36f9-wf6r' },
  cProfile: { names: '*', reason: RUNS_CODE, source: 'picklescan (runctx)' },
  timeit: { names: '*', reason: RUNS_CODE, source: 'picklescan, GHSA-v7x6-rv5q-mhwc' },
  doctest: { names: '*', reason: `${RUNS_CODE} (debug_script, run_docstring_examples)`, source: 'picklescan (doctest.debug_script), fickling #210' },
  unittest: { names: '*', reason: 'imports and runs test modules by name', source: 'same class as doctest' },
  idlelib: { names: '*', reason: `${RUNS_CODE} (calltip.get_entity and autocomplete evaluate, pyshell/run runcode)`, source: 'picklescan, GHSA-r8g5-cgf2-4m4m' },
  lib2to3: { names: '*', reason: `${RUNS_CODE} (pgen ParserGenerator.make_label evaluates; Grammar.loads unpickles)`, source: 'picklescan, GHSA-r8g5-cgf2-4m4m' },
  _pyrepl: { names: '*', reason: RUNS_CODE, source: 'reference notes section 5' },
  _osx_support: { names: '*', reason: RUNS_COMMANDS, source: 'reference notes section 5' },
  uuid: { names: ['_get_command_stdout', '_popen'], reason: RUNS_COMMANDS, source: 'reference notes section 5' },
  multiprocessing: { names: '*', reason: RUNS_COMMANDS, source: 'reference notes section 5 (util.spawnv_passfds)' },
  asyncio: { names: '*', reason: RUNS_COMMANDS, source: 'picklescan, CVE-2025-10157 (unix_events._UnixSubprocessTransport)' },
  threading: { names: '*', reason: 'starts threads running pickled callables', source: 'modelscan' },
  _thread: { names: '*', reason: 'starts threads running pickled callables', source: 'modelscan' },
  signal: { names: '*', reason: 'installs signal handlers', source: 'modelscan' },
  platform: { names: '*', reason: RUNS_COMMANDS, source: 'modelscan' },
  webbrowser: { names: '*', reason: RUNS_COMMANDS, source: 'picklescan' },
  pip: { names: '*', reason: 'installs and runs packages', source: 'CVE-2025-1716 (pip.main), GHSA-vqmv-47xg-9wpr' },
  ensurepip: { names: '*', reason: 'installs and runs packages', source: 'GHSA-xp4f-hrf8-rxw7 (ensurepip._run_pip)' },
  venv: { names: '*', reason: 'runs pip in a new environment', source: 'picklescan, GHSA-vqmv-47xg-9wpr' },
  // Network.
  socket: { names: '*', reason: NETWORK, source: 'picklescan' },
  ssl: { names: '*', reason: `${NETWORK} (get_server_certificate)`, source: 'picklescan, GHSA-hgrh-qx5j-jfwx' },
  http: { names: '*', reason: NETWORK, source: 'GHSA-hgrh-qx5j-jfwx' },
  httplib: { names: '*', reason: NETWORK, source: 'picklescan' },
  urllib: { names: '*', reason: NETWORK, source: 'modelscan' },
  urllib2: { names: '*', reason: NETWORK, source: 'modelscan' },
  requests: { names: '*', reason: NETWORK, source: 'picklescan (requests.api)' },
  aiohttp: { names: '*', reason: NETWORK, source: 'picklescan' },
  ftplib: { names: '*', reason: NETWORK, source: 'modelscan' },
  smtplib: { names: '*', reason: NETWORK, source: 'modelscan' },
  telnetlib: { names: '*', reason: NETWORK, source: 'modelscan' },
  poplib: { names: '*', reason: NETWORK, source: 'modelscan' },
  imaplib: { names: '*', reason: `${NETWORK} (IMAP4_stream runs a command)`, source: 'reference notes section 5' },
  // Indirection: callables that call whatever they are given.
  functools: { names: ['partial', 'reduce', 'partialmethod'], reason: 'calls any callable it is given', source: 'picklescan (functools.partial(os.system, ...))' },
  operator: { names: ['attrgetter', 'itemgetter', 'methodcaller'], reason: 'reaches attributes and methods of any object', source: 'picklescan, GHSA-m273-6v24-x4m4' },
  _operator: { names: ['attrgetter', 'itemgetter', 'methodcaller'], reason: 'reaches attributes and methods of any object', source: 'GHSA-m273-6v24-x4m4, GHSA-955r-x9j8-7rhh' },
  // PyTorch internals that compile or evaluate strings.
  'torch._dynamo': { names: '*', reason: RUNS_CODE, source: 'picklescan (torch._dynamo.guards.GuardBuilder.get)' },
  'torch._inductor': { names: '*', reason: `${RUNS_COMMANDS} (codecache.compile_file runs a compiler command line)`, source: 'picklescan' },
  'torch.fx': { names: '*', reason: `${RUNS_CODE} (symbolic_shapes.ShapeEnv.evaluate_guards_expression, GraphModule code)`, source: 'picklescan' },
  'torch.jit': { names: '*', reason: `${RUNS_CODE} (unsupported_tensor_ops.execWrapper is exec)`, source: 'picklescan' },
  'torch.utils.bottleneck': { names: '*', reason: RUNS_CODE, source: 'picklescan (run_cprofile, run_autograd_prof)' },
  'torch.utils.collect_env': { names: '*', reason: RUNS_COMMANDS, source: 'picklescan (collect_env.run)' },
  'torch.utils.cpp_extension': { names: '*', reason: 'compiles and loads native code', source: 'same class as torch._inductor.codecache' },
  'torch.hub': { names: '*', reason: 'downloads and runs repository code', source: 'torch.hub.load runs hubconf.py' },
  'torch.package': { names: '*', reason: `${NESTED} with its own code`, source: 'torch.package importer' },
  'torch.ops': { names: '*', reason: 'calls native operators by name', source: 'same class as torch._inductor' },
  'torch.classes': { names: '*', reason: 'calls native classes by name', source: 'same class as torch._inductor' },
};

export type GlobalVerdict = 'allowed' | 'unsafe' | 'inconclusive';

export interface GlobalJudgement {
  verdict: GlobalVerdict;
  /** Why it is unsafe, and the published technique it matches. */
  reason?: string;
}

function denied(module: string, name: string): Deny | undefined {
  // The module itself or any parent marked `*`; exact pairs on the module or a parent with the rest of the dotted path.
  const parts = module.split('.');
  for (let i = parts.length; i >= 1; i--) {
    const mod = parts.slice(0, i).join('.');
    const d = DENY[mod];
    if (!d) continue;
    if (d.names === '*') return d;
    const rest = [...parts.slice(i), name].join('.');
    if (d.names.includes(rest) || d.names.some((n) => rest.startsWith(`${n}.`))) return d;
  }
  return undefined;
}

export function judgeGlobal(module: string, name: string): GlobalJudgement {
  const full = `${module}.${name}`;
  if (WEIGHTS_ONLY_ALLOWED.has(full) || NUMPY_RECONSTRUCT.has(full)) return { verdict: 'allowed' };
  const d = denied(module, name);
  if (d) return { verdict: 'unsafe', reason: `${d.reason} [${d.source}]` };
  // Dunder attributes reach interpreter internals (`numpy.__builtins__` → eval).
  if (name.startsWith('__') || name.includes('.__') || module.includes('__')) {
    return { verdict: 'unsafe', reason: 'a dunder attribute reaches interpreter internals [modelscan #330: numpy.__builtins__ then eval]' };
  }
  return { verdict: 'inconclusive' };
}
