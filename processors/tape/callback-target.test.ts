import { describe, expect, it } from 'vitest';
import { checkCallbackTarget, forbiddenKind, parseAllowList } from './callback-target.ts';

describe('callback target guard', () => {
  it('knows the forbidden ranges, IPv4-mapped IPv6 included', () => {
    for (const [ip, kind] of [
      ['127.0.0.1', 'loopback'], ['10.9.8.7', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'], ['169.254.169.254', 'link-local'], ['0.0.0.0', 'unspecified'], ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'broadcast'], ['::1', 'loopback'], ['::', 'unspecified'], ['fd00::1', 'private'], ['fe80::1', 'link-local'],
      ['ff02::1', 'multicast'], ['::ffff:127.0.0.1', 'loopback'], ['::ffff:10.0.0.1', 'private'], ['::ffff:7f00:1', 'loopback'], ['0:0:0:0:0:ffff:a00:1', 'private'],
    ]) expect(forbiddenKind(ip), ip).toMatch(new RegExp(`^${kind} `));
    for (const ip of ['203.0.113.5', '172.32.0.1', '8.8.8.8', '2001:db8::1', '::ffff:203.0.113.5', '::ffff:cb00:7105', '2001:db8::ffff:7f00:1']) expect(forbiddenKind(ip), ip).toBeNull();
  });

  it('allow-lists CIDRs, bare addresses and host names', async () => {
    const allow = parseAllowList(['127.0.0.0/8', '::1/128', '10.1.2.3', 'Hooks.Internal']);
    const none = async () => { throw new Error('no DNS in this test'); };
    expect(await checkCallbackTarget('http://127.0.0.1:9/cb', allow, none)).toMatchObject({ ok: true });
    expect(await checkCallbackTarget('http://[::1]:9/cb', allow, none)).toMatchObject({ ok: true });
    expect(await checkCallbackTarget('http://10.1.2.3/cb', allow, none)).toMatchObject({ ok: true });
    expect(await checkCallbackTarget('http://10.1.2.4/cb', allow, none)).toMatchObject({ ok: false, reason: expect.stringMatching(/private/) });
    expect(await checkCallbackTarget('https://hooks.internal/cb', allow, none)).toMatchObject({ ok: true });
    expect(() => parseAllowList(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => parseAllowList(['host/8'])).toThrow(/neither/);
  });

  it('judges every address a name resolves to; an unresolvable name is marked unresolved', async () => {
    const allow = parseAllowList([]);
    expect(await checkCallbackTarget('http://a.example/', allow, async () => [{ address: '203.0.113.5', family: 4 }])).toEqual({ ok: true, addresses: ['203.0.113.5'] });
    expect(await checkCallbackTarget('http://a.example/', allow, async () => [{ address: '203.0.113.5', family: 4 }, { address: 'fe80::1', family: 6 }]))
      .toMatchObject({ ok: false, reason: expect.stringMatching(/a\.example resolves to fe80::1.*link-local/) });
    expect(await checkCallbackTarget('http://a.example/', allow, async () => { throw new Error('ENOTFOUND'); })).toMatchObject({ ok: false, unresolved: true });
    expect(await checkCallbackTarget('ftp://203.0.113.5/', allow)).toMatchObject({ ok: false });
  });
});
