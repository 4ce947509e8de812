import { Command, CommanderError } from 'commander';
import { ExitCode, ModelsealError, oneLine } from '../errors.js';
import { LOG_FORMATS, logLevel, setLogFormat } from '../log.js';
import { VERSION } from '../version.js';

type Factory = () => Promise<Command>;

/**
 * Commands load on demand: a pod's `init` or a `verify` must not pay for the S3 SDK, the
 * SBOM schemas or the keyless signing stack at start-up (each costs a few hundred ms).
 */
const COMMANDS: Record<string, Factory> = {
  digest: async () => (await import('./digest.js')).digestCommand(),
  sign: async () => (await import('./sign.js')).signCommand(),
  verify: async () => (await import('./verify.js')).verifyCommand(),
  'generate-key-pair': async () => (await import('./keys.js')).generateKeyPairCommand(),
  'sign-blob': async () => (await import('./blob.js')).signBlobCommand(),
  'verify-blob': async () => (await import('./blob.js')).verifyBlobCommand(),
  'verify-blob-attestation': async () => (await import('./blob.js')).verifyBlobAttestationCommand(),
  publish: async () => (await import('./publish.js')).publishCommand(),
  attach: async () => (await import('./attach.js')).attachCommand(),
  pull: async () => (await import('./pull.js')).pullCommand(),
  inspect: async () => (await import('./inspect.js')).inspectCommand(),
  sbom: async () => (await import('./sbom.js')).sbomCommand(),
  init: async () => (await import('./init.js')).initCommand(),
  audit: async () => (await import('./audit.js')).auditCommand(),
  trust: async () => (await import('./trust.js')).trustCommand(),
  scan: async () => (await import('./scan.js')).scanCommand(),
  webhook: async () => (await import('./webhook.js')).webhookCommand(),
  watch: async () => (await import('./watch.js')).watchCommand(),
};

/** The first word that is not an option names the command (`help X` names X). */
function requested(argv: string[]): string[] {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const first = words[0] === 'help' ? words[1] : words[0];
  if (first !== undefined && first in COMMANDS) return [first];
  // `modelseal --version` needs no command at all; help and errors list them all.
  const flags = argv.slice(2);
  return flags.length === 1 && (flags[0] === '--version' || flags[0] === '-V') ? [] : Object.keys(COMMANDS);
}

/** Commands that hash a local tree: their workers start first (see sharedHashPool). */
const HASHING = new Set(['digest', 'sign', 'verify', 'publish', 'audit']);

export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const names = requested(argv);
  if (names.length === 1 && HASHING.has(names[0]!)) (await import('../hashing/pool.js')).sharedHashPool();
  const program = new Command('modelseal')
    .description('prove that the model weights you serve are exactly the weights someone signed')
    .version(VERSION)
    .option('--log-format <format>', `JSON log lines on stderr: json, or human (none); default json unless stderr is a terminal (${LOG_FORMATS.join('|')})`);
  // Logging is settled before any command runs: a bad MODELSEAL_LOG_LEVEL is an error, never ignored.
  program.hook('preAction', (root) => {
    setLogFormat(root.opts().logFormat as string | undefined);
    if (names.length !== 1 || names[0] !== 'init') logLevel();
  });
  for (const name of names) program.addCommand(await COMMANDS[name]!());
  // Every nested command reports usage errors through the same path (exit 2).
  // commander's own error text is replaced by the one `modelseal: USAGE: …` line (and --json result).
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput({ outputError: () => undefined });
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof ModelsealError) {
      process.stderr.write(`modelseal: ${err.code}: ${oneLine(err)}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CommanderError) {
      // --help and --version are not errors.
      if (err.exitCode === 0) {
        process.exitCode = ExitCode.OK;
        return;
      }
      const reason = usageReason(program, err, argv);
      if (argv.includes('--json')) process.stdout.write(JSON.stringify({ ok: false, code: 'USAGE', exitCode: ExitCode.USAGE, reason }, null, 2) + '\n');
      process.stderr.write(`modelseal: USAGE: ${reason}\n`);
      process.exitCode = ExitCode.USAGE;
      return;
    }
    throw err;
  }
}

/** commander's message, with the methods a command takes when its method is missing or unknown. */
function usageReason(program: Command, err: CommanderError, argv: string[]): string {
  const base = err.message.replace(/^error: /, '');
  const name = commandPath(argv).trim();
  const cmd = program.commands.find((c) => c.name() === name);
  const methods = cmd?.commands.map((c) => c.name()) ?? [];
  if (err.code === 'commander.unknownCommand' && methods.length > 0) {
    return `${base}: modelseal ${name} needs one of ${methods.join(', ')} first (e.g. modelseal ${name} ${methods[0]} …)`;
  }
  return `${base} (see modelseal ${name ? `${name} ` : ''}--help)`;
}

/** `sign ` for `modelseal sign key --bogus`: the command named, when it is one. */
function commandPath(argv: string[]): string {
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  return first !== undefined && first in COMMANDS ? `${first} ` : '';
}
