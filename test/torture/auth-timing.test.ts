// Fault suite, token comparison: verify() hashes the presented token (fixed-length SHA-256, so length and
// prefix do not matter) and compares it with timingSafeEqual against every configured entry, with no
// early exit, whether the token matches the first entry, the last, or none.
import { beforeEach, expect, it, vi } from 'vitest';

const calls: number[] = [];
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => { calls.push(a.byteLength + b.byteLength); return real.timingSafeEqual(a, b); } };
});

const { createAuth, hashToken } = await import('../../gateway/plugins/auth.ts');
const { figure, printFigures } = await import('./support.ts');

const tokens = ['first-token', 'second', 'third-token-much-longer-than-the-others', 'fourth', 'last'];
const auth = createAuth({ tokens: tokens.map((t, i) => `n${i}:${i % 2 ? 'producer' : 'reader'}:${hashToken(t)}`), anonymousRoutes: [] });
beforeEach(() => { calls.length = 0; });

it('compares every presented token in constant time against every entry, without early exit', () => {
  const probes: [string, string | null][] = [
    ['first-token', 'n0'], ['last', 'n4'], ['nope', null], ['first-tokeX', null], ['f', null], ['x'.repeat(10_000), null],
  ];
  const perProbe: number[] = [];
  for (const [token, who] of probes) {
    calls.length = 0;
    expect(auth.verify(token)?.name ?? null).toBe(who);
    perProbe.push(calls.length);
    expect(calls.every((n) => n === 64)).toBe(true); // two 32-byte digests, whatever the token's length
  }
  figure('auth: constant-time compare', 'timingSafeEqual calls per verify (5 entries), per probe', perProbe.join(' '), '5 each');
  printFigures('torture: auth timing');
  expect(perProbe).toEqual(probes.map(() => tokens.length));
});
