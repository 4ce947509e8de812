import { ModelsealError } from '../../errors.js';

/** Asked only when a key file is encrypted. */
export type PasswordProvider = () => Promise<string>;

/** cosign's order: `COSIGN_PASSWORD` (an empty value is a valid, empty password), else ask on the terminal. */
export const envOrPromptPassword: PasswordProvider = async () => {
  const fromEnv = process.env.COSIGN_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  return promptPassword('Enter password for private key: ');
};

/** Read a password from the controlling terminal without echoing it. */
export function promptPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY || !process.stderr.isTTY) {
    return Promise.reject(new ModelsealError('KEY_PASSWORD', 'the private key is encrypted: set COSIGN_PASSWORD or run on a terminal to be asked'));
  }
  return new Promise((resolve, reject) => {
    let typed: string[] = [];
    const finish = (err?: ModelsealError): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed.join(''));
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new ModelsealError('KEY_PASSWORD', 'password entry cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed.push(ch);
      }
    };
    process.stderr.write(prompt);
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
