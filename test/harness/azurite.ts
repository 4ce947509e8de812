import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { request } from 'undici';
import { freePort, startProcess, tempDir, waitFor } from './process.js';

/**
 * Azurite (npm `azurite`) Blob service on 127.0.0.1:<free port>, telemetry off, stopped by PID.
 * It implements listing, ranged GETs, Content-MD5, SAS and ETag conditions, but neither blob
 * versions nor immutability policies nor legal holds (notation-and-azure-blob.md §7).
 */
export interface AzuriteServer {
  /** Path-style service URL: `http://127.0.0.1:<port>/devstoreaccount1`. */
  blobEndpoint: string;
  account: string;
  accountKey: string;
  connectionString: string;
  pid: number;
  stop(): Promise<void>;
}

/** Azurite's well-known development account (public, documented; never a real secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export async function startAzurite(): Promise<AzuriteServer> {
  const dir = await tempDir('azurite');
  const bin = path.join(path.dirname(createRequire(import.meta.url).resolve('azurite/package.json')), 'dist/src/blob/main.js');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    // Run under this Node (the project's), not whatever `node` a shebang would find.
    const proc = startProcess(process.execPath, [bin, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir, '--skipApiVersionCheck', '--disableTelemetry', '--silent'], { cwd: dir });
    const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    try {
      await waitFor(async () => {
        const r = await request(`${blobEndpoint}?comp=list`);
        await r.body.dump();
        return r.statusCode > 0;
      }, 'azurite-blob', proc, 30_000);
    } catch (err) {
      await proc.stop();
      if (attempt < 2 && /EADDRINUSE/.test(proc.output())) continue;
      throw err;
    }
    return {
      blobEndpoint,
      account: AZURITE_ACCOUNT,
      accountKey: AZURITE_KEY,
      connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
      pid: proc.pid,
      stop: async () => {
        await proc.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}
