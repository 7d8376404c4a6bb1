import { describe, expect, it } from 'vitest';
import { checkRelativePath, checkSourcePath, checkUsername } from './paths.ts';

describe('staging path checks', () => {
  it('accepts nested relative destinations', () => {
    expect(checkRelativePath('project/data1.fits')).toEqual({ ok: true, components: ['project', 'data1.fits'] });
  });
  it.each([
    ['../x', 'PATH_TRAVERSAL'], ['a/../../x', 'PATH_TRAVERSAL'], ['/etc/passwd', 'PATH_ABSOLUTE'], ['a//b', 'PATH_INVALID'],
    ['a/./b', 'PATH_INVALID'], ['a/', 'PATH_INVALID'], ['', 'PATH_EMPTY'], ['a\0b', 'PATH_NUL'], ['x'.repeat(256), 'NAME_TOO_LONG'],
    [('a/').repeat(2100) + 'b', 'PATH_TOO_LONG'], ['x\udc00', 'PATH_INVALID'], ['\ud800/x', 'PATH_INVALID'],
  ])('refuses destination %j with %s', (p, code) => {
    expect(checkRelativePath(p)).toMatchObject({ ok: false, code });
  });
  it('takes absolute sources below the root and relative ones', () => {
    expect(checkSourcePath('/mnt/a/x/y', '/mnt/a')).toEqual({ ok: true, components: ['x', 'y'] });
    expect(checkSourcePath('x/y', '/mnt/a')).toEqual({ ok: true, components: ['x', 'y'] });
  });
  it('refuses unpaired surrogates (staged under another name before: x\\udc00 arrived as x + three U+FFFD) and keeps pairs', () => {
    expect(checkSourcePath('/mnt/a/lone\ud800', '/mnt/a')).toMatchObject({ ok: false, code: 'PATH_INVALID' });
    expect(checkSourcePath('lone\udfff', '/mnt/a')).toMatchObject({ ok: false, code: 'PATH_INVALID' });
    expect(checkRelativePath('\u{1F600}.dat')).toEqual({ ok: true, components: ['\u{1F600}.dat'] });
  });
  it('refuses sources outside the root, including a sibling with the root as prefix', () => {
    expect(checkSourcePath('/mnt/ab/x', '/mnt/a')).toMatchObject({ ok: false, code: 'PATH_ESCAPE' });
    expect(checkSourcePath('/mnt/a/../b', '/mnt/a')).toMatchObject({ ok: false, code: 'PATH_TRAVERSAL' });
  });
  it('refuses user names that could leave the area template', () => {
    expect(checkUsername('alice')).toEqual({ ok: true });
    for (const u of ['..', '.hidden', 'a/b', '', 'x'.repeat(65), 'a\0']) expect(checkUsername(u)).toMatchObject({ ok: false });
  });
});
