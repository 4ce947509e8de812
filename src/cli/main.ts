import { Command, CommanderError } from 'commander';
import { ExitCode } from '../errors.js';
import { VERSION } from '../version.js';
import { auditCommand } from './audit.js';
import { signBlobCommand, verifyBlobCommand } from './blob.js';
import { digestCommand } from './digest.js';
import { initCommand } from './init.js';
import { inspectCommand } from './inspect.js';
import { generateKeyPairCommand } from './keys.js';
import { publishCommand } from './publish.js';
import { pullCommand } from './pull.js';
import { sbomCommand } from './sbom.js';
import { signCommand } from './sign.js';
import { trustCommand } from './trust.js';
import { verifyCommand } from './verify.js';

export function buildProgram(): Command {
  const program = new Command('modelseal')
    .description('prove that the model weights you serve are exactly the weights someone signed')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  const commands = [
    digestCommand,
    signCommand,
    verifyCommand,
    generateKeyPairCommand,
    signBlobCommand,
    verifyBlobCommand,
    publishCommand,
    pullCommand,
    inspectCommand,
    sbomCommand,
    initCommand,
    auditCommand,
    trustCommand,
  ];
  for (const make of commands) program.addCommand(make());
  // Every nested command reports usage errors through the same path (exit 2).
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are not errors.
      process.exitCode = err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
      return;
    }
    throw err;
  }
}
