import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull } from '../../../src/app/pull.js';
import { trustOf } from '../../helpers/trust.js';
import { isModelsealError } from '../../../src/errors.js';
import { createOciSource } from '../../../src/stores/oci/source.js';
import type { MirrorSettings } from '../../../src/stores/mirrors/types.js';
import { freePort, tempDir } from '../../harness/process.js';
import { skopeo } from '../../harness/registry.js';
import { sha256 } from '../../helpers/model.js';
import { clientFor } from '../oci/helpers.js';
import { startFaultProxy, type FaultProxy } from '../oci/proxy.js';
import { blobGets, publishModel, startFleet, WEIGHT, type Fleet } from './setup.js';

/**
 * Pulls through a real Distribution pull-through cache (the mirror) of a real origin registry:
 * the mirror serves the blobs; a mirror that alters bytes, stalls or is down is skipped per blob
 * and the origin serves them; every byte is verified either way and the receipt says who served what.
 */
describe('pull through a registry mirror', () => {
  let f: Fleet;
  const fronts: FaultProxy[] = [];

  beforeAll(async () => {
    f = await startFleet();
  }, 60_000);
  afterAll(async () => {
    for (const p of fronts) await p.close();
    await f?.stop();
  });

  async function front(o: Parameters<typeof startFaultProxy>[0]): Promise<FaultProxy> {
    const p = await startFaultProxy(o);
    fronts.push(p);
    return p;
  }

  async function pullWith(ref: string, mirrors: MirrorSettings) {
    const into = path.join(await tempDir('mirror-pull'), 'model');
    const source = createOciSource(ref, { ...(await clientFor(f.origin)), mirrors });
    const res = await pull({ reference: ref, source, trust: trustOf(f.authorities), into });
    return { res, into };
  }

  it('a healthy pull-through mirror serves every blob; the origin serves none and the receipt names the mirror', async () => {
    const m = await publishModel(f, 'fleet/healthy', 11);
    const mirrorFront = await front({ upstream: f.mirror.url('') });
    const before = blobGets(f.originFront);
    const { res, into } = await pullWith(m.ref, { flags: [{ registry: f.originFront.host, url: `http://${mirrorFront.host}` }] });
    expect(sha256(await readFile(path.join(into, 'w.bin')))).toBe(sha256(WEIGHT(11)));
    const mirrorRoot = `http://${mirrorFront.host}/v2`;
    expect(res.receipt.delivery?.files).toEqual({
      'w.bin': { from: mirrorRoot, blob: `sha256:${sha256(WEIGHT(11))}` },
      'config.json': expect.objectContaining({ from: mirrorRoot }),
      'sub/tok.bin': expect.objectContaining({ from: mirrorRoot }),
    });
    expect(res.receipt.delivery?.skipped).toEqual([]);
    // Weights came from the mirror (which fetched them from the origin itself, not through our front).
    expect(blobGets(f.originFront) - before).toBeLessThanOrEqual(2); // at most the signature's blobs
    expect(blobGets(f.originFront, sha256(WEIGHT(11)))).toBe(0);
    // containerd's `ns` names the upstream on every mirror request.
    expect(mirrorFront.requests.filter((r) => r.includes('/blobs/')).every((r) => r.includes(`ns=${encodeURIComponent(f.originFront.host)}`))).toBe(true);
  });

  it('a mirror that alters bytes is skipped for each blob it corrupts; the origin serves them and the pull succeeds verified', async () => {
    const m = await publishModel(f, 'fleet/hostile', 12);
    const evil = await front({ upstream: f.mirror.url(''), corruptBlobsOver: 20_000 });
    const { res, into } = await pullWith(m.ref, { flags: [{ registry: f.originFront.host, url: `http://${evil.host}` }] });
    expect(sha256(await readFile(path.join(into, 'w.bin')))).toBe(sha256(WEIGHT(12)));
    const d = res.receipt.delivery!;
    expect(d.files['w.bin']).toEqual({ from: 'origin', blob: `sha256:${sha256(WEIGHT(12))}` });
    expect(d.files['sub/tok.bin']!.from).toBe('origin');
    // config.json is small: below the corruption threshold, so the mirror served it intact.
    expect(d.files['config.json']!.from).toBe(`http://${evil.host}/v2`);
    const skippedW = d.skipped.filter((s) => s.blob === `sha256:${sha256(WEIGHT(12))}`);
    expect(skippedW).toHaveLength(1);
    expect(skippedW[0]!.mirror).toBe(`http://${evil.host}/v2`);
    expect(skippedW[0]!.reason).toMatch(/DIGEST_MISMATCH|digest mismatch/);
    expect(blobGets(f.originFront, sha256(WEIGHT(12)))).toBe(1);
    // Nothing of the bad attempt is left in the placed model.
    expect((await stat(path.join(into, 'w.bin'))).size).toBe(400_000);
  });

  it('a mirror that stalls mid-blob is skipped after the stall timeout; the origin serves the blob', async () => {
    const m = await publishModel(f, 'fleet/stall', 13);
    const slow = await front({ upstream: f.mirror.url(''), stallAfter: 1000 });
    const { res, into } = await pullWith(m.ref, { flags: [{ registry: f.originFront.host, url: `http://${slow.host}` }], stallMs: 400 });
    expect(sha256(await readFile(path.join(into, 'w.bin')))).toBe(sha256(WEIGHT(13)));
    expect(res.receipt.delivery!.files['w.bin']!.from).toBe('origin');
    const s = res.receipt.delivery!.skipped.find((x) => x.blob === `sha256:${sha256(WEIGHT(13))}`);
    expect(s?.reason).toMatch(/cut after 1000 of 400000 bytes \(UND_ERR_BODY_TIMEOUT\)/);
  });

  it('a mirror that is down is skipped; everything comes from the origin', async () => {
    const m = await publishModel(f, 'fleet/down', 14);
    const dead = `http://127.0.0.1:${await freePort()}`;
    const { res, into } = await pullWith(m.ref, { flags: [{ registry: f.originFront.host, url: dead }] });
    expect(sha256(await readFile(path.join(into, 'w.bin')))).toBe(sha256(WEIGHT(14)));
    expect(Object.values(res.receipt.delivery!.files).every((x) => x.from === 'origin')).toBe(true);
    expect(res.receipt.delivery!.skipped.length).toBeGreaterThanOrEqual(3);
    expect(res.receipt.delivery!.skipped.every((x) => x.mirror === `${dead}/v2` && /connection failure/.test(x.reason))).toBe(true);
  });

  it('a pinned digest with signatures through the mirror never contacts the origin', async () => {
    const m = await publishModel(f, 'fleet/pinned', 15);
    // Warm the pull-through cache (a first pull by any node), then stop counting.
    await pullWith(m.ref, { flags: [{ registry: f.originFront.host, url: f.mirror.url('') }] });
    const seen = f.originFront.requests.length;
    const pinned = `oci://${f.originFront.host}/fleet/pinned@${m.digest}`;
    const { res } = await pullWith(pinned, { flags: [{ registry: f.originFront.host, url: f.mirror.url('') }], signatures: true });
    expect(res.receipt.resolvedDigest).toBe(m.digest);
    expect(f.originFront.requests.slice(seen)).toEqual([]);
  });

  it('by default signatures come from the origin: a mirror serving none does not make the model unsigned', async () => {
    const m = await publishModel(f, 'fleet/sigs', 16);
    // This "mirror" is an empty registry: it has the blobs of no model and no signatures.
    const seen = f.originFront.requests.length;
    const { startRegistry } = await import('../../harness/registry.js');
    const empty = await startRegistry();
    try {
      const { res } = await pullWith(m.ref, { flags: [{ registry: f.originFront.host, url: empty.url('') }] });
      expect(res.receipt.signature.kind).toBe('oms');
      expect(f.originFront.requests.slice(seen).some((r) => r.includes('/manifests/sha256-'))).toBe(true);
      expect(res.receipt.delivery!.skipped.every((s) => /NOT_FOUND|404/.test(s.reason))).toBe(true);
    } finally {
      await empty.stop();
    }
  });

  it('a corrupting mirror that is the only source besides a broken origin fails closed (DIGEST_MISMATCH from the origin)', async () => {
    const m = await publishModel(f, 'fleet/bothbad', 17);
    const evil = await front({ upstream: f.mirror.url(''), corruptBlobsOver: 20_000 });
    const badOrigin = await front({ upstream: f.origin.url(''), corruptBlobsOver: 20_000 });
    const ref = `oci://${badOrigin.host}/fleet/bothbad:v1`;
    const into = path.join(await tempDir('mirror-pull'), 'model');
    const source = createOciSource(ref, { ...(await clientFor(f.origin)), mirrors: { flags: [{ registry: badOrigin.host, url: `http://${evil.host}` }] } });
    const err = await pull({ reference: ref, source, trust: trustOf(f.authorities), into }).catch((e: unknown) => e);
    expect(isModelsealError(err, 'DIGEST_MISMATCH'), String(err)).toBe(true);
    await expect(stat(into)).rejects.toThrow();
    expect(m.digest).toMatch(/^sha256:/);
  });

  it('containerd hosts.toml: the mirror it names serves the blobs', async () => {
    const m = await publishModel(f, 'fleet/containerd', 18);
    const mirrorFront = await front({ upstream: f.mirror.url('') });
    const certs = await tempDir('certs.d');
    const dir = path.join(certs, f.originFront.host.replace(/:(\d+)$/, '_$1_'));
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'hosts.toml'), `server = "http://${f.originFront.host}"\n\n[host."http://${mirrorFront.host}"]\n  capabilities = ["pull"]\n`);
    const { res } = await pullWith(m.ref, { hostsDir: certs });
    expect(res.receipt.delivery!.files['w.bin']!.from).toBe(`http://${mirrorFront.host}/v2`);
    expect(blobGets(mirrorFront, sha256(WEIGHT(18)))).toBe(1);
    expect(blobGets(f.originFront, sha256(WEIGHT(18)))).toBe(0);
  });

  it('registries.conf: skopeo (containers/image) and modelseal go to the same mirror for the same file', async () => {
    const m = await publishModel(f, 'fleet/podman', 19);
    const mirrorFront = await front({ upstream: f.mirror.url('') });
    const rc = path.join(await tempDir('containers'), 'registries.conf');
    await writeFile(rc, [
      '[[registry]]',
      `prefix = "${f.originFront.host}/fleet"`,
      // containers/image 5.23 (skopeo 1.9) still requires location unless the prefix is a wildcard.
      `location = "${f.originFront.host}/fleet"`,
      'insecure = true',
      '[[registry.mirror]]',
      `location = "${mirrorFront.host}/fleet"`,
      'insecure = true',
    ].join('\n') + '\n');
    const raw = await skopeo(['--registries-conf', rc, 'inspect', '--raw', '--tls-verify=false', `docker://${f.originFront.host}/fleet/podman@${m.digest}`]);
    expect(JSON.parse(raw).layers.length).toBe(3);
    expect(mirrorFront.requests.some((r) => r.includes(`/v2/fleet/podman/manifests/${m.digest}`))).toBe(true);
    const { res } = await pullWith(m.ref, { registriesConf: rc });
    expect(res.receipt.delivery!.files['w.bin']!.from).toBe(`http://${mirrorFront.host}/v2`);
    expect(blobGets(f.originFront, sha256(WEIGHT(19)))).toBe(0);
  });
});
