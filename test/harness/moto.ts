import { rm } from 'node:fs/promises';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, startProcess, tempDir, waitFor } from './process.js';

/**
 * moto_server on loopback (test-servers.md §4): in-memory S3 with checksums, versioning and
 * Object Lock; it accepts any credentials. moto_server is a pyenv shim, so it runs from a fresh
 * temp cwd where no `.python-version` can redirect it to another Python.
 */

export interface MotoServer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<MotoServer> {
  const dir = await tempDir('moto');
  const port = await freePort();
  const proc = startProcess('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { cwd: dir });
  const server: MotoServer = {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    accessKeyId: 'moto-test-key',
    secretAccessKey: 'moto-test-secret',
    pid: proc.pid,
    stop: async () => {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    maxAttempts: 1,
  });
  try {
    await waitFor(async () => {
      await client.send(new ListBucketsCommand({}));
      return true;
    }, 'moto_server', proc, 60_000);
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    client.destroy();
  }
  return server;
}
