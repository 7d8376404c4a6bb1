import { describe, expect, it } from 'vitest';
import { parseNotification } from './index.ts';

describe('parseNotification', () => {
  it('reads the file name and the error flag of a library message', () => {
    expect(parseNotification(Buffer.from('{"filename":"/a.fits"}'))).toEqual({ filename: '/a.fits', error: false, message: '' });
    expect(parseNotification(Buffer.from('{"filename":"/a.fits","error":true,"message":"tape read error"}'))).toEqual({ filename: '/a.fits', error: true, message: 'tape read error' });
    expect(parseNotification(Buffer.from('{"filename":"/a.fits","error":1}'))).toEqual({ filename: '/a.fits', error: true, message: 'staging failed' });
  });
  it('refuses garbage', () => {
    expect(() => parseNotification(Buffer.from('not json'))).toThrow();
    expect(() => parseNotification(Buffer.from('{"name":1}'))).toThrow(/no filename/);
    expect(() => parseNotification(null)).toThrow(/empty/);
  });
});
