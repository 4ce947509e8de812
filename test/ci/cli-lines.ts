import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';

/**
 * Split one shell command into words: single and double quotes, backslash escapes; stops at the
 * first pipe, `;`, `&&`, `||` or redirection (what follows is another command).
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur: string | undefined;
  let i = 0;
  const push = () => {
    if (cur !== undefined) words.push(cur);
    cur = undefined;
  };
  while (i < line.length) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in: ${line}`);
      cur = (cur ?? '') + line.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      let s = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        s += line[j];
        j++;
      }
      if (j >= line.length) throw new Error(`unterminated " in: ${line}`);
      cur = (cur ?? '') + s;
      i = j + 1;
    } else if (c === '\\' && i + 1 < line.length) {
      cur = (cur ?? '') + line[i + 1];
      i += 2;
    } else if (/\s/.test(c)) {
      push();
      i++;
    } else if ('|;&<>'.includes(c)) {
      break;
    } else {
      cur = (cur ?? '') + c;
      i++;
    }
  }
  push();
  return words;
}

/** Every `modelseal …` invocation in a script (one command per list item or line). */
export function modelsealInvocations(script: string | string[]): string[][] {
  const lines = (Array.isArray(script) ? script : script.split('\n')).flatMap((l) => l.replace(/\\\n/g, ' ').split('\n'));
  return lines
    .map((l) => l.trim())
    .filter((l) => /^modelseal\s/.test(l))
    .map((l) => shellWords(l).slice(1));
}

/**
 * Check an invocation against the real CLI's definitions: the command path exists, every flag is
 * one that command declares, and every required option and argument is given. Returns problems.
 */
let programOnce: Promise<Command> | undefined;
export async function flagProblems(argv: string[]): Promise<string[]> {
  const program = await (programOnce ??= buildProgram(['node', 'modelseal']));
  let cmd: Command = program;
  let i = 0;
  while (i < argv.length) {
    const sub = cmd.commands.find((c) => c.name() === argv[i]);
    if (!sub) break;
    cmd = sub;
    i++;
  }
  if (cmd === program) return [`unknown command ${argv[0]}`];
  if (cmd.commands.length > 0) return [`${cmd.name()} needs a subcommand (${cmd.commands.map((c) => c.name()).join('|')})`];
  const problems: string[] = [];
  const seen = new Set<string>();
  const positional: string[] = [];
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (!word.startsWith('--')) {
      positional.push(word);
      continue;
    }
    const [flag] = word.split('=');
    const opt = cmd.options.find((o) => o.long === flag);
    if (!opt) {
      problems.push(`${cmd.name()}: unknown flag ${flag}`);
      continue;
    }
    seen.add(opt.long!);
    // A value-taking flag consumes the next word (variadic ones until the next flag).
    if ((opt.required || opt.optional) && !word.includes('=')) {
      if (opt.variadic) while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) i++;
      else if (opt.required || (i + 1 < argv.length && !argv[i + 1]!.startsWith('--'))) i++;
    }
  }
  for (const o of cmd.options) if (o.mandatory && !seen.has(o.long!)) problems.push(`${cmd.name()}: missing ${o.long}`);
  const required = cmd.registeredArguments.filter((a) => a.required).length;
  if (positional.length < required) problems.push(`${cmd.name()}: ${required} arguments needed, got ${positional.length}`);
  return problems;
}
