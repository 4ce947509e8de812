// Turn `strace -f -c` tables (one per traced run) plus extra-syscalls.txt, minus deny-syscalls.txt,
// into an OCI seccomp profile that allows exactly that set.
// Usage: node build-profile.mjs TRACE_DIR EXTRA_FILE DENY_FILE > seccomp.json
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const [traceDir, extraFile, denyFile] = process.argv.slice(2);
if (!traceDir || !extraFile || !denyFile) {
  process.stderr.write('usage: build-profile.mjs TRACE_DIR EXTRA_FILE DENY_FILE\n');
  process.exit(2);
}

const names = new Set();
const tables = readdirSync(traceDir).filter((f) => f.endsWith('.txt'));
if (tables.length === 0) throw new Error(`no strace tables in ${traceDir}`);
for (const f of tables) {
  let rows = 0;
  for (const line of readFileSync(path.join(traceDir, f), 'utf8').split('\n')) {
    // "% time  seconds  usecs/call  calls  [errors]  syscall": the syscall is the last column.
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+(?:\s+\d+)?\s+([a-z0-9_]+)\s*$/.exec(line);
    if (m && m[1] !== 'total') {
      names.add(m[1]);
      rows++;
    }
  }
  if (rows === 0) throw new Error(`${f}: not an strace -c table`);
}
const traced = names.size;
const listed = (file) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((name) => name !== '');
for (const name of listed(extraFile)) names.add(name);
const denied = listed(denyFile);
for (const name of denied) names.delete(name);

// ENOSYS, not EPERM, for anything else: glibc and libuv fall back to an older syscall on ENOSYS
// (clone3, statx, faccessat2, io_uring), so a denied newer syscall degrades instead of failing.
const profile = {


  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 38,
  architectures: ['SCMP_ARCH_X86_64'],
  syscalls: [{ names: [...names].sort(), action: 'SCMP_ACT_ALLOW' }],
};
process.stdout.write(JSON.stringify(profile, null, 2) + '\n');
process.stderr.write(`${tables.length} traced runs, ${traced} syscalls traced, ${denied.length} denied on purpose, ${names.size} allowed in all\n`);
