import { Command } from 'commander';
import { access, writeFile } from 'node:fs/promises';
import { ModelsealError } from '../errors.js';
import { generateKeyPair } from '../signatures/cosign/key-file.js';
import { promptPassword } from '../signatures/core/password.js';
import { action, emit } from './output.js';

export function generateKeyPairCommand(): Command {
  return new Command('generate-key-pair')
    .description('create a cosign-compatible encrypted ECDSA P-256 key pair (<prefix>.key, <prefix>.pub); password from $COSIGN_PASSWORD or a prompt')
    .option('--output-key-prefix <prefix>', 'file name prefix', 'cosign')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (f: { outputKeyPrefix: string; json?: boolean }) => {
        const keyFile = `${f.outputKeyPrefix}.key`;
        const pubFile = `${f.outputKeyPrefix}.pub`;
        for (const file of [keyFile, pubFile]) {
          if (await access(file).then(() => true, () => false)) throw new ModelsealError('USAGE', `${file} already exists; refusing to overwrite a key`);
        }
        const password = await newPassword();
        const { privatePem, publicPem } = await generateKeyPair(password);
        const write = (file: string, text: string, mode: number) =>
          writeFile(file, text, { mode, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
            throw new ModelsealError('USAGE', `cannot write ${file}: ${err.code === 'ENOENT' ? 'its directory does not exist' : (err.code ?? err.message)}`);
          });
        await write(keyFile, privatePem, 0o600);
        await write(pubFile, publicPem, 0o644);
        emit(!!f.json, `Private key written to ${keyFile}\nPublic key written to ${pubFile}`, { ok: true, privateKey: keyFile, publicKey: pubFile });
      }),
    );
}

/** cosign's order: COSIGN_PASSWORD (empty allowed), else ask twice on the terminal. */
async function newPassword(): Promise<string> {
  const fromEnv = process.env.COSIGN_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  const first = await promptPassword('Enter password for private key: ');
  const again = await promptPassword('Enter password for private key again: ');
  if (first !== again) throw new ModelsealError('KEY_PASSWORD', 'passwords do not match');
  return first;
}
