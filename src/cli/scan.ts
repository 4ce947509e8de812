import { Command } from 'commander';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { scanModel, type ModelScan } from '../app/scan.js';
import { ExitCode } from '../errors.js';
import type { Finding } from '../formats/finding.js';
import { GIT_IGNORE_PATHS } from '../model/names.js';
import { VERSION } from '../version.js';
import { action } from './output.js';

interface ScanFlags {
  json?: boolean;
  sarif?: boolean;
  strict?: boolean;
}

const LABEL: Record<Finding['severity'], string> = { unsafe: 'UNSAFE', inconclusive: 'INCONCLUSIVE', info: 'info' };

function human(s: ModelScan): string {
  const lines = s.findings.map((f) => `${LABEL[f.severity].padEnd(12)} ${f.path}: ${f.detail}`);
  const n = (sev: Finding['severity']) => s.findings.filter((f) => f.severity === sev).length;
  lines.push(`${s.verdict}: ${s.files.length} file${s.files.length === 1 ? '' : 's'} scanned, ${n('unsafe')} unsafe, ${n('inconclusive')} inconclusive, ${n('info')} info`);
  return lines.join('\n') + '\n';
}

const SARIF_LEVEL: Record<Finding['severity'], 'error' | 'warning' | 'note'> = { unsafe: 'error', inconclusive: 'warning', info: 'note' };

/**
 * SARIF 2.1.0 as GitHub code scanning ingests it: one rule per finding kind, locations relative
 * to the working directory (the checkout root in CI) when the model is inside it.
 */
export function toSarif(s: ModelScan): unknown {
  const cwd = process.cwd();
  const uri = (rel: string): string => {
    const abs = path.join(s.root, ...rel.split('/'));
    const r = path.relative(cwd, abs);
    return r.startsWith('..') || path.isAbsolute(r) ? pathToFileURL(abs).href : r.split(path.sep).join('/');
  };
  const kinds = [...new Set(s.findings.map((f) => f.kind))].sort();
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{
      tool: {
        driver: {
          name: 'modelseal', version: VERSION,
          rules: kinds.map((k) => ({ id: k, name: k, shortDescription: { text: `model scan finding: ${k}` }, properties: { tags: ['security', 'supply-chain'] } })),
        },
      },
      results: s.findings.map((f) => ({
        ruleId: f.kind,
        ruleIndex: kinds.indexOf(f.kind),
        level: SARIF_LEVEL[f.severity],
        message: { text: f.detail },
        locations: [{ physicalLocation: { artifactLocation: { uri: uri(f.path) } } }],
        properties: { severity: f.severity, ...(f.global ? { global: f.global } : {}) },
      })),
    }],
  };
}

export function scanCommand(): Command {
  let failed: string | undefined;
  const cmd = new Command('scan')
    .description('scan a model file or directory for content that runs code when loaded (pickles, archives, remote code); exit 8 on unsafe findings')
    .argument('<path>', 'model directory or single file')
    .option('--json', 'print the findings as JSON')
    .option('--sarif', 'print SARIF 2.1.0 (for GitHub code scanning uploads)')
    .option('--strict', 'also exit 8 when a finding is inconclusive (could not be shown safe)');
  return cmd.action(async (target: string, f: ScanFlags) => {
    await action(async () => {
      const s = await scanModel(target, { ignorePaths: GIT_IGNORE_PATHS });
      if (f.sarif) process.stdout.write(JSON.stringify(toSarif(s), null, 2) + '\n');
      else if (f.json) process.stdout.write(JSON.stringify({ ok: s.verdict === 'clean' || (s.verdict === 'inconclusive' && !f.strict), verdict: s.verdict, root: s.root, files: s.files, findings: s.findings }, null, 2) + '\n');
      else process.stdout.write(human(s));
      if (s.verdict === 'unsafe' || (s.verdict === 'inconclusive' && f.strict)) failed = `${s.verdict} content in ${target}`;
    })();
    if (failed !== undefined && process.exitCode === ExitCode.OK) {
      process.stderr.write(`modelseal: UNSAFE_CONTENT: ${failed}\n`);
      process.exitCode = ExitCode.UNSAFE_CONTENT;
    }
  });
}
