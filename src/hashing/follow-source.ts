import { HASHER_SOURCE } from './hasher-source.js';

/**
 * The follow-hashing worker, as source text run with `eval: true` (see worker-source.ts for why).
 * It hashes a staging file while the download is still writing it: the main thread reports how
 * far the file is written, the worker reads up to there (from the page cache) and hashes, so
 * downloading and hashing run on different cores and what is hashed is what was written.
 *
 * Messages in:  {type:'open', id, path, alg, shardSize}  {type:'grow', id, size}  {type:'end', id, size}
 * Messages out: {id, shards: [{start, end, digest}]}  or  {id, error}
 */
export const FOLLOW_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
// 256 KiB stays inside a core's L2, so the hash reads what read() just copied from cache, not
// from RAM: measured 1150 MiB/s per core against 770 MiB/s with a 4 MiB buffer.
// WebAssembly memory is page-aligned; a malloc'd buffer may start 8-24 bytes past a page, where
// the kernel's copy into it runs ~40% slower (measured 390 ms against 237 ms per 256 MiB).
const BUF = Buffer.from(new WebAssembly.Memory({ initial: 4, maximum: 4 }).buffer);
${HASHER_SOURCE}
const files = new Map();
async function pump(f, upTo) {
  // Opened on first progress: the writer creates the file after 'open' is posted.
  if (f.fd < 0) f.fd = fs.openSync(f.path, 'r');
  while (f.pos < upTo) {
    const room = f.shardStart + f.shardSize - f.pos;
    const want = Math.min(BUF.length, upTo - f.pos, room);
    const n = fs.readSync(f.fd, BUF, 0, want, f.pos);
    if (n === 0) throw new Error('staging file shorter than written: ' + f.path);
    f.hash.update(BUF.subarray(0, n));
    f.pos += n;
    if (f.pos === f.shardStart + f.shardSize) await close(f);
  }
}
// A shard that ends closes into the next one's hasher, made ahead (BLAKE3's is async to create).
async function close(f) {
  f.shards.push({ start: f.shardStart, end: f.pos, digest: f.hash.digest() });
  f.shardStart = f.pos;
  f.hash = await newHasher(f.alg);
}
// Messages are handled strictly in order even though creating a hasher may await.
let queue = Promise.resolve();
parentPort.on('message', (m) => {
  queue = queue.then(() => handle(m));
});
async function handle(m) {
  const f = files.get(m.id);
  try {
    if (m.type === 'open') {
      files.set(m.id, { path: m.path, fd: -1, alg: m.alg, shardSize: m.shardSize > 0 ? m.shardSize : Infinity,
        hash: await newHasher(m.alg), pos: 0, shardStart: 0, shards: [] });
    } else if (m.type === 'grow') {
      await pump(f, m.size);
    } else if (m.type === 'end') {
      await pump(f, m.size);
      if (f.pos > f.shardStart || f.shards.length === 0) await close(f);
      fs.closeSync(f.fd);
      files.delete(m.id);
      parentPort.postMessage({ id: m.id, shards: f.shards });
    } else if (m.type === 'abort') {
      if (f) { if (f.fd >= 0) fs.closeSync(f.fd); files.delete(m.id); }
    }
  } catch (e) {
    if (f) { try { if (f.fd >= 0) fs.closeSync(f.fd); } catch {} files.delete(m.id); }
    parentPort.postMessage({ id: m.id, error: String(e && e.message || e) });
  }
}
`;
