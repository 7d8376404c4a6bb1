import { describe, expect, it } from 'vitest';
import { checkCallbackTarget, forbiddenKind, parseAllowList } from './callback-target.ts';

describe('callback target guard', () => {
  it('refuses every address that is not global unicast, by ipaddr.js range()', () => {
    for (const [ip, kind] of [
      ['127.0.0.1', 'loopback'], ['10.9.8.7', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'], ['169.254.169.254', 'linkLocal'], ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'], ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'broadcast'], ['::1', 'loopback'], ['::', 'unspecified'], ['fd00::1', 'uniqueLocal'], ['fe80::1', 'linkLocal'],
      ['fe80::1%eth0', 'linkLocal'], ['ff02::1', 'multicast'],
      // cloud metadata and special-purpose IPv4 the hand-written table missed
      ['100.100.100.200', 'carrierGradeNat'], ['100.64.0.1', 'carrierGradeNat'], ['198.18.0.1', 'reserved'], ['198.19.255.255', 'reserved'],
      ['240.0.0.1', 'reserved'], ['192.0.0.8', 'reserved'], ['192.0.2.1', 'reserved'], ['203.0.113.5', 'reserved'], ['192.88.99.1', 'reserved'],
      ['2001:db8::1', 'reserved'], ['100::1', 'discard'], ['2001::1', 'teredo'], ['fec0::1', 'deprecatedSiteLocal'],
      // IPv6 that is no global unicast although ipaddr.js calls it unicast
      ['::a9fe:a9fe', 'outside global unicast'], ['4000::1', 'outside global unicast'],
      // IPv6 forms carrying an IPv4 address are judged by it
      ['::ffff:127.0.0.1', 'IPv4-mapped of 127.0.0.1: loopback'], ['::ffff:10.0.0.1', 'IPv4-mapped of 10.0.0.1: private'],
      ['::ffff:7f00:1', 'IPv4-mapped of 127.0.0.1: loopback'], ['0:0:0:0:0:ffff:a00:1', 'IPv4-mapped of 10.0.0.1: private'],
      ['[::ffff:169.254.169.254]', 'IPv4-mapped of 169.254.169.254: linkLocal'], ['::ffff:0:7f00:1', 'IPv4-translated of 127.0.0.1: loopback'],
      ['64:ff9b::a9fe:a9fe', 'NAT64 of 169.254.169.254: linkLocal'], ['64:ff9b::169.254.169.254', 'NAT64 of 169.254.169.254: linkLocal'],
      ['64:ff9b::7f00:1', 'NAT64 of 127.0.0.1: loopback'], ['64:ff9b:1::a9fe:a9fe', 'rfc6052'],
      ['2002:a9fe:a9fe::1', '6to4 of 169.254.169.254: linkLocal'], ['2002:7f00:1::', '6to4 of 127.0.0.1: loopback'], ['2002:c0a8:101::5', '6to4 of 192.168.1.1: private'],
      ['not-an-ip', 'unparseable'],
    ]) expect(forbiddenKind(ip), ip).toMatch(new RegExp(`^${kind.replace(/[.[\]]/g, '\\$&')}`));
    for (const ip of ['8.8.8.8', '172.32.0.1', '1.1.1.1', '2606:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8', '::ffff:808:808', '64:ff9b::808:808', '2002:808:808::1']) {
      expect(forbiddenKind(ip), ip).toBeNull();
    }
  });

  it('allow-lists CIDRs, bare addresses and host names', async () => {
    const allow = parseAllowList(['127.0.0.0/8', '::1/128', '10.1.2.3', 'Hooks.Internal']);
    const none = async () => { throw new Error('no DNS in this test'); };
    expect(await checkCallbackTarget('http://127.0.0.1:9/cb', allow, none)).toMatchObject({ ok: true });
    expect(await checkCallbackTarget('http://[::1]:9/cb', allow, none)).toMatchObject({ ok: true });
    expect(await checkCallbackTarget('http://10.1.2.3/cb', allow, none)).toMatchObject({ ok: true });
    expect(await checkCallbackTarget('http://10.1.2.4/cb', allow, none)).toMatchObject({ ok: false, reason: expect.stringMatching(/private/) });
    // the allow-list keeps working for the IPv4-mapped form of a listed address, not for NAT64/6to4 (another host)
    expect(await checkCallbackTarget('http://[::ffff:127.0.0.1]:9/cb', allow, none)).toMatchObject({ ok: true });
    expect(await checkCallbackTarget('http://[::ffff:7f00:2]:9/cb', allow, none)).toMatchObject({ ok: true });
    expect(await checkCallbackTarget('http://[64:ff9b::7f00:1]:9/cb', allow, none)).toMatchObject({ ok: false, reason: expect.stringMatching(/NAT64 of 127\.0\.0\.1/) });
    expect(await checkCallbackTarget('http://[2002:7f00:1::]:9/cb', allow, none)).toMatchObject({ ok: false });
    expect(await checkCallbackTarget('https://hooks.internal/cb', allow, none)).toMatchObject({ ok: true });
    expect(() => parseAllowList(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => parseAllowList(['host/8'])).toThrow(/neither/);
    expect(() => parseAllowList(['10.0.0.0/'])).toThrow(/prefix/);
  });

  it('refuses the special-purpose URLs of issue 14 whether written as literals or resolved from a name', async () => {
    const allow = parseAllowList(['127.0.0.0/8', '::1/128']); // the tests' loopback allow-list stays in force
    const literals = ['http://100.100.100.200/latest/meta-data', 'http://198.18.0.1/', 'http://240.0.0.1/', 'http://[64:ff9b::a9fe:a9fe]/', 'http://[2002:a9fe:a9fe::1]/',
      'http://[::ffff:a9fe:a9fe]/', 'http://0xa9fea9fe/', 'http://0251.0376.0251.0376/', 'http://169.254.43518/', 'http://[fd00:ec2::254]/'];
    for (const u of literals) expect(await checkCallbackTarget(u, allow, async () => { throw new Error(`no DNS: ${u}`); }), u).toMatchObject({ ok: false });
    for (const address of ['100.100.100.200', '198.18.0.1', '240.0.0.1', '64:ff9b::a9fe:a9fe', '2002:a9fe:a9fe::1']) {
      expect(await checkCallbackTarget('http://hook.example/', allow, async () => [{ address: '8.8.8.8', family: 4 }, { address, family: address.includes(':') ? 6 : 4 }]), address)
        .toMatchObject({ ok: false, reason: expect.stringContaining(address) });
    }
  });

  it('judges every address a name resolves to; an unresolvable name is marked unresolved', async () => {
    const allow = parseAllowList([]);
    expect(await checkCallbackTarget('http://a.example/', allow, async () => [{ address: '8.8.8.8', family: 4 }])).toEqual({ ok: true, addresses: ['8.8.8.8'] });
    expect(await checkCallbackTarget('http://a.example/', allow, async () => [{ address: '8.8.8.8', family: 4 }, { address: 'fe80::1', family: 6 }]))
      .toMatchObject({ ok: false, reason: expect.stringMatching(/a\.example resolves to fe80::1.*linkLocal/) });
    expect(await checkCallbackTarget('http://a.example/', allow, async () => { throw new Error('ENOTFOUND'); })).toMatchObject({ ok: false, unresolved: true });
    expect(await checkCallbackTarget('ftp://8.8.8.8/', allow)).toMatchObject({ ok: false });
  });
});
