/**
 * Chat templates are Jinja programs the serving stack renders on every request. transformers
 * renders them in jinja2's ImmutableSandboxedEnvironment, but other servers used a plain
 * Environment (llama-cpp-python, CVE-2024-34359), where `{{ self.__init__.__globals__ ... }}`
 * runs code: server-side template injection. Templates that stay inside the subset real chat
 * templates use pass; dunder/private attributes and the `attr` filter are unsafe; calls and
 * statements outside the subset are inconclusive.
 */

export interface TemplateIssue {
  severity: 'unsafe' | 'inconclusive';
  detail: string;
}

/** Functions and globals chat templates call (transformers adds raise_exception and strftime_now). */
const SAFE_CALLS = new Set(['range', 'dict', 'namespace', 'raise_exception', 'strftime_now', 'len', 'loop.cycle']);
/** str/list/dict methods the sandbox allows and real templates use. */
const SAFE_METHODS = new Set([
  'strip', 'lstrip', 'rstrip', 'split', 'rsplit', 'splitlines', 'startswith', 'endswith', 'upper', 'lower', 'title',
  'capitalize', 'replace', 'find', 'rfind', 'index', 'count', 'join', 'items', 'keys', 'values', 'get', 'format',
  'cycle', 'isdigit', 'isalpha', 'isspace',
]);
/** Statements chat templates use; include/import/extends/from load other templates (and call/filter blocks). */
const SAFE_STATEMENTS = new Set([
  'if', 'elif', 'else', 'endif', 'for', 'endfor', 'set', 'endset', 'macro', 'endmacro', 'generation', 'endgeneration',
  'break', 'continue', 'raw', 'endraw',
]);

const KEYWORDS = new Set(['not', 'and', 'or', 'in', 'is', 'if', 'else', 'elif', 'for', 'recursive']);

interface Tok {
  t: 'name' | 'str' | 'op' | 'num';
  v: string;
}

function lex(code: string): Tok[] {
  const out: Tok[] = [];
  const re = /\s+|([A-Za-z_][A-Za-z0-9_]*)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(\d+(?:\.\d+)?)|(\*\*|\/\/|==|!=|<=|>=|[-+*/%~|.,:()[\]{}<>=!?])/gy;
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  while (re.lastIndex < code.length && (m = re.exec(code))) {
    if (m[1]) out.push({ t: 'name', v: m[1] });
    else if (m[2]) out.push({ t: 'str', v: m[2].slice(1, -1) });
    else if (m[3]) out.push({ t: 'num', v: m[3] });
    else if (m[4]) out.push({ t: 'op', v: m[4] });
  }
  if (re.lastIndex < code.length) out.push({ t: 'op', v: code[re.lastIndex]! });
  return out;
}

/** Every `{{ … }}` and `{% … %}` body (comments and raw blocks are not code). */
function blocks(template: string): Array<{ kind: 'expr' | 'stmt'; code: string }> {
  const out: Array<{ kind: 'expr' | 'stmt'; code: string }> = [];
  const text = template.replace(/\{#[\s\S]*?#\}/g, '').replace(/\{%-?\s*raw\s*-?%\}[\s\S]*?\{%-?\s*endraw\s*-?%\}/g, '');
  const re = /\{\{([\s\S]*?)\}\}|\{%([\s\S]*?)%\}/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push(m[1] !== undefined ? { kind: 'expr', code: m[1] } : { kind: 'stmt', code: m[2]! });
  return out;
}

export function checkChatTemplate(template: string): TemplateIssue[] {
  const issues: TemplateIssue[] = [];
  const seen = new Set<string>();
  const macros = new Set([...template.matchAll(/\{%-?\s*macro\s+([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
  const add = (severity: TemplateIssue['severity'], detail: string): void => {
    if (seen.has(detail) || issues.length >= 20) return;
    seen.add(detail);
    issues.push({ severity, detail });
  };
  for (const b of blocks(template)) {
    const toks = lex(b.code.replace(/^[-+]|[-+]$/g, ''));
    if (b.kind === 'stmt') {
      const head = toks[0]?.v ?? '';
      if (!SAFE_STATEMENTS.has(head)) add('inconclusive', `template statement {% ${head} %} is outside the chat-template subset (it may load or call other templates)`);
    }
    // Names bound by {% set x = … %} / {% for x in … %} / macros are local: only their use matters.
    for (let i = 0; i < toks.length; i++) {
      const k = toks[i]!;
      const prev = toks[i - 1];
      const next = toks[i + 1];
      if (k.t === 'name' && prev?.v === '.' && k.v.startsWith('_')) {
        add('unsafe', `template reaches the private attribute .${k.v} (the sandbox-escape route to Python internals, CVE-2024-34359)`);
      }
      if (k.t === 'str' && prev?.v === '[' && k.v.startsWith('_')) add('unsafe', `template subscripts ["${k.v}"] (a dunder reached by name)`);
      if (k.t === 'name' && k.v === 'attr' && prev?.v === '|') add('unsafe', 'template uses the |attr filter, which reaches any attribute by a computed name');
      // `not (…)`, `x is divisibleby(3)` and filters `|f(…)` are not calls of a global.
      if (k.t === 'name' && next?.v === '(' && prev?.v !== '|' && prev?.v !== 'is' && !KEYWORDS.has(k.v) && !(prev?.v === 'not' && toks[i - 2]?.v === 'is')) {
        const dotted = prev?.v === '.' ? toks[i - 2]?.v === 'loop' ? `loop.${k.v}` : `.${k.v}` : k.v;
        const ok = dotted.startsWith('.') ? SAFE_METHODS.has(k.v) : SAFE_CALLS.has(dotted);
        const isMacro = b.kind === 'stmt' && toks[0]?.v === 'macro' && i === 1;
        if (!ok && !isMacro && !macros.has(k.v)) add('inconclusive', `template calls ${dotted}(), which is outside the chat-template subset`);
      }
    }
  }
  return issues;
}
