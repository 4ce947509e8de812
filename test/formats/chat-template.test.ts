import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkChatTemplate } from '../../src/formats/chat-template.js';
import { analyzeModelFile } from '../../src/formats/scan.js';
import { writeGguf } from './writers.js';

/** Shapes of the templates models ship (Llama 3, ChatML/Qwen with tools, Gemma, Mistral). */
const BENIGN = {
  llama3: "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
  qwen: "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- for tool in tools %}{{- tool | tojson }}{%- endfor %}{%- endif %}{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}{%- if ns.multi_step_tool and message.role == \"user\" and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}{%- set ns.multi_step_tool = false %}{%- endif %}{%- endfor %}{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content.strip() + '<|im_end|>' + '\\n' }}{%- endfor %}",
  gemma: "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ '<start_of_turn>' + message['role'] + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}",
  mistralMacro: "{%- macro render(m) -%}{{ m['content'].split('\\n')|join(' ') }}{%- endmacro -%}{% for message in messages %}[INST] {{ render(message) }} [/INST]{% endfor %}{# a comment with self.__class__ #}",
};

describe('chat template scan', () => {
  it('templates models ship pass', () => {
    for (const [name, t] of Object.entries(BENIGN)) expect(checkChatTemplate(t), name).toEqual([]);
  });

  it('sandbox escapes are unsafe (CVE-2024-34359 class)', () => {
    const cases = [
      "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}",
      "{{ ''.__class__.__mro__[1].__subclasses__() }}",
      "{{ lipsum['__globals__']['os'].popen('id') }}",
      "{{ messages|attr('__class__') }}",
      "{% for c in cycler._TemplateReference__context %}{% endfor %}",
    ];
    for (const t of cases) expect(checkChatTemplate(t).map((i) => i.severity), t).toContain('unsafe');
  });

  it('calls and statements outside the subset are inconclusive', () => {
    expect(checkChatTemplate("{{ messages.pop() }}")).toEqual([expect.objectContaining({ severity: 'inconclusive', detail: expect.stringMatching(/\.pop\(\)/) })]);
    expect(checkChatTemplate("{% include 'other.jinja' %}")).toEqual([expect.objectContaining({ severity: 'inconclusive', detail: expect.stringMatching(/include/) })]);
    expect(checkChatTemplate("{{ url_for('x') }}")[0]).toMatchObject({ severity: 'inconclusive' });
    expect(checkChatTemplate("{% if not (a or b) and x is divisibleby(2) and y is not sameas(z) %}{% endif %}")).toEqual([]);
  });
});

describe('chat templates in model files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'modelseal-tpl-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const evil = "{{ self.__init__.__globals__ }}";

  it('tokenizer_config.json (string and named list), chat_template.json, .jinja and GGUF', async () => {
    await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: [{ name: 'default', template: BENIGN.llama3 }, { name: 'tool_use', template: evil }] }));
    await writeFile(path.join(dir, 'chat_template.json'), JSON.stringify({ chat_template: evil }));
    await writeFile(path.join(dir, 'chat_template.jinja'), evil);
    await writeFile(path.join(dir, 'ok.jinja'), BENIGN.qwen);
    await writeFile(path.join(dir, 'm.gguf'), writeGguf([['general.architecture', 'str', 'llama'], ['tokenizer.chat_template', 'str', evil]], []));
    await writeFile(path.join(dir, 'ok.gguf'), writeGguf([['general.architecture', 'str', 'llama'], ['tokenizer.chat_template', 'str', BENIGN.gemma]], []));
    const tc = await analyzeModelFile(dir, 'tokenizer_config.json');
    expect(tc.findings.length).toBe(2);
    expect(tc.findings.every((f) => f.severity === 'unsafe' && f.kind === 'chat-template' && f.detail.startsWith('chat_template "tool_use": '))).toBe(true);
    for (const f of ['chat_template.json', 'chat_template.jinja', 'm.gguf']) {
      expect((await analyzeModelFile(dir, f)).findings.map((x) => [x.severity, x.kind]), f).toContainEqual(['unsafe', 'chat-template']);
    }
    expect((await analyzeModelFile(dir, 'ok.jinja')).findings).toEqual([]);
    expect((await analyzeModelFile(dir, 'ok.gguf')).findings).toEqual([]);
  });
});
