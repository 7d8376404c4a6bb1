import { describe, expect, it } from 'vitest';
import { checkRelativePath, checkSourcePath, checkUsername } from './paths.ts';

describe('staging path checks', () => {
  it('accepts nested relative destinations', () => {
    expect(checkRelativePath('project/data1.fits')).toEqual({ ok: true, components: ['project', 'data1.fits'] });
  });
  it.each([
    ['../x', 'PATH_TRAVERSAL'], ['a/../../x', 'PATH_TRAVERSAL'], ['/etc/passwd', 'PATH_ABSOLUTE'], ['a//b', 'PATH_INVALID'],
    ['a/./b', 'PATH_INVALID'], ['a/', 'PATH_INVALID'], ['', 'PATH_EMPTY'], ['a\0b', 'PATH_NUL'], ['x'.repeat(256), 'NAME_TOO_LONG'],
    [('a/').repeat(2100) + 'b', 'PATH_TOO_LONG'],
  ])('refuses destination %j with %s', (p, code) => {
    expect(checkRelativePath(p)).toMatchObject({ ok: false, code });
  });
  it('takes absolute sources below the root and relative ones', () => {
    expect(checkSourcePath('/mnt/a/x/y', '/mnt/a')).toEqual({ ok: true, components: ['x', 'y'] });
    expect(checkSourcePath('x/y', '/mnt/a')).toEqual({ ok: true, components: ['x', 'y'] });
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
