import { createHash, type Hash } from 'node:crypto';
import type { HashAlgorithm, Resource, SerializationMethod } from '../manifest/types.js';
import { shardName } from '../manifest/names.js';
import { opensslName } from './algorithms.js';

/**
 * Hashes one file's bytes as they stream past (during a download), producing the same
 * resources `serializeDirectory` would for that file: one digest (`files`) or one per shard.
 */
export class ResourceHasher {
  private readonly alg: string;
  private readonly shardSize: number;
  private current: Hash;
  private shardStart = 0;
  private offset = 0;
  private readonly done: Resource[] = [];

  constructor(
    private readonly path: string,
    private readonly method: SerializationMethod,
    private readonly hashType: HashAlgorithm,
    shardSize = 0,
  ) {
    this.alg = opensslName(hashType);
    this.shardSize = method === 'shards' ? shardSize : Infinity;
    this.current = createHash(this.alg);
  }

  update(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const room = this.shardStart + this.shardSize - this.offset;
      const take = Math.min(room, chunk.length - pos);
      this.current.update(pos === 0 && take === chunk.length ? chunk : chunk.subarray(pos, pos + take));
      pos += take;
      this.offset += take;
      if (this.offset === this.shardStart + this.shardSize) this.closeShard();
    }
  }

  get bytes(): number {
    return this.offset;
  }

  /** The resources for the whole file; call once, after the last byte. */
  finish(): Resource[] {
    if (this.method === 'files') {
      return [{ name: this.path, algorithm: this.hashType, digest: this.current.digest('hex') }];
    }
    if (this.offset > this.shardStart) this.closeShard();
    return this.done;
  }

  private closeShard(): void {
    this.done.push({
      name: shardName(this.path, this.shardStart, this.offset),
      algorithm: this.hashType,
      digest: this.current.digest('hex'),
    });
    this.shardStart = this.offset;
    this.current = createHash(this.alg);
  }
}
