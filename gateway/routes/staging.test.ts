import { describe, expect, it } from 'vitest';
import { validateHeaderValue } from 'node:http';
import { contentDisposition, wellFormed } from './staging.ts';

describe('contentDisposition', () => {
  // every one of these made direct_download answer 500 ERR_INVALID_CHAR before (test/torture/staging-attacks.test.ts)
  const names = ['cafe\u0301', 'caf\u00e9', 'line\nbreak', 'cr\rlf', '\x01\x1f\x7f', '\u2025', '\uff0e\uff0e', 'a"b\\c', "it's (1)*.fits", '\ud800lone', '😀.dat'];

  it.each(names)('is a valid header value with an ASCII fallback and the exact UTF-8 name: %j', (name) => {
    const v = contentDisposition(name);
    expect(() => validateHeaderValue('content-disposition', v)).not.toThrow();
    expect(v).toMatch(/^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''[A-Za-z0-9%!._~-]*$/);
    const encoded = v.split("filename*=UTF-8''")[1]!;
    expect(decodeURIComponent(encoded)).toBe(wellFormed(name));
    expect(v.split('"')[1]).not.toMatch(/["\\]/);
  });

  it('replaces only lone surrogates', () => {
    expect(wellFormed('a\ud800b\udc00c😀')).toBe('a\ufffdb\ufffdc😀');
  });

  it('keeps a plain name as it is', () => {
    expect(contentDisposition('f.dat')).toBe(`attachment; filename="f.dat"; filename*=UTF-8''f.dat`);
  });
});
