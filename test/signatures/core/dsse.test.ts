import { describe, expect, it } from 'vitest';
import { legacyPae, pae, pythonBytesRepr } from '../../../src/signatures/core/dsse.js';

describe('DSSE PAE', () => {
  it('standard PAE matches the DSSE protocol example, with byte lengths', () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
    // Length counts bytes, not characters.
    expect(pae('t', Buffer.from('é')).toString()).toBe('DSSEv1 1 t 2 é');
  });

  it('keeps payload bytes verbatim (no text round trip)', () => {
    const payload = Buffer.from([0xff, 0x00, 0x80]);
    const out = pae('x', payload);
    expect(out.subarray(out.length - 3)).toEqual(payload);
  });
});

describe('Python bytes repr (model_signing v0.2 compat, trap T10)', () => {
  // Expected strings produced by CPython 3 `repr(bytes)`.
  const cases: [Buffer, string][] = [
    [Buffer.from('a\nb'), "b'a\\nb'"],
    [Buffer.from("it's"), 'b"it\'s"'],
    [Buffer.from('\'"'), "b'\\'\"'"],
    [Buffer.from('\\'), "b'\\\\'"],
    [Buffer.from([0, 9, 13, 127, 128, 255]), "b'\\x00\\t\\r\\x7f\\x80\\xff'"],
    [Buffer.from('é'), "b'\\xc3\\xa9'"],
    [Buffer.from('{"a": "x"}\n'), 'b\'{"a": "x"}\\n\''],
  ];
  for (const [bytes, expected] of cases) {
    it(`repr of ${JSON.stringify(bytes.toString('latin1'))}`, () => expect(pythonBytesRepr(bytes)).toBe(expected));
  }

  it('legacy PAE is DSSEV1 + byte length + repr', () => {
    expect(legacyPae('application/vnd.in-toto+json', Buffer.from('{"k": 1}\n')).toString()).toBe(
      'DSSEV1 28 application/vnd.in-toto+json 9 b\'{"k": 1}\\n\'',
    );
  });
});
