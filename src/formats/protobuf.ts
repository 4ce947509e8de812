import { Cursor, decodeUtf8, formatError } from './reader.js';

/**
 * A minimal protobuf wire reader over a Cursor: enough for ONNX metadata. Every length is checked
 * against the enclosing message's end, so a hostile length can neither read past its parent nor
 * make us allocate it.
 */
export class ProtoReader {
  constructor(readonly c: Cursor, readonly format: string) {}

  async varint(): Promise<bigint> {
    await this.c.need(Math.min(10, this.c.limit - this.c.pos));
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.c.pos >= this.c.limit) throw formatError(this.format, 'truncated varint');
      const b = this.c.u8();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    throw formatError(this.format, `varint longer than 10 bytes at offset ${this.c.pos}`);
  }

  async uint(what: string): Promise<number> {
    const v = await this.varint();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(this.format, `${what} ${v} is out of range`);
    return Number(v);
  }

  /** int64 as written (two's complement in 64 bits). */
  async int64(): Promise<bigint> {
    return BigInt.asIntN(64, await this.varint());
  }

  /** Returns [field, wireType], or undefined at `end`. */
  async tag(end: number): Promise<[number, number] | undefined> {
    if (this.c.pos >= end) {
      if (this.c.pos > end) throw formatError(this.format, `field overruns its message at offset ${this.c.pos}`);
      return undefined;
    }
    const t = await this.uint('tag');
    const field = Math.floor(t / 8);
    const wire = t % 8;
    if (field === 0) throw formatError(this.format, `field number 0 at offset ${this.c.pos}`);
    return [field, wire];
  }

  /** Length of a length-delimited field; its end must stay inside `end`. */
  async len(end: number): Promise<number> {
    const n = await this.uint('length');
    if (this.c.pos + n > end) throw formatError(this.format, `length ${n} at offset ${this.c.pos} passes the end of its message`);
    return n;
  }

  async string(end: number, keep = 1 << 16): Promise<string> {
    const n = await this.len(end);
    if (n > keep) {
      this.c.skip(n);
      return '';
    }
    await this.c.need(n);
    return decodeUtf8(this.c.bytes(n), this.format, 'string field');
  }

  async skip(wire: number, end: number): Promise<void> {
    switch (wire) {
      case 0:
        await this.varint();
        return;
      case 1:
        this.c.skip(8);
        return;
      case 2:
        this.c.skip(await this.len(end));
        return;
      case 5:
        this.c.skip(4);
        return;
      default:
        // Groups (3/4) are deprecated and absent from ONNX; anything else is corruption.
        throw formatError(this.format, `unsupported wire type ${wire} at offset ${this.c.pos}`);
    }
  }

  /** Repeated int64 that may be packed (wire 2) or not (wire 0). */
  async repeatedInt64(wire: number, end: number, out: bigint[], max = 1 << 16): Promise<void> {
    if (wire === 0) {
      out.push(await this.int64());
    } else if (wire === 2) {
      // Not `pos + (await len())`: the left operand would be read before len() moves past the length.
      const n = await this.len(end);
      const stop = this.c.pos + n;
      while (this.c.pos < stop) out.push(await this.int64());
      if (this.c.pos !== stop) throw formatError(this.format, 'packed field overruns its length');
    } else {
      throw formatError(this.format, `wire type ${wire} for a repeated int64`);
    }
    if (out.length > max) throw formatError(this.format, `more than ${max} repeated values`);
  }
}
