// SSRF guard of webhook targets: a notify_url whose host is (or resolves to) anything but a global
// unicast address (ipaddr.js range() 'unicast', and for IPv6 inside 2000::/3) is refused unless the
// domain's allow-list (a <DOMAIN>_..._ALLOW config key) names it (CIDRs and/or host names). IPv6 forms
// that carry an IPv4 address (IPv4-mapped, IPv4-translated, NAT64 64:ff9b::/96, 6to4 2002::/16) are
// judged by that address. Domains check when a request is submitted and again at every delivery.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export type Lookup = (host: string) => Promise<{ address: string; family: number }[]>;
export const defaultLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

type Address = ipaddr.IPv4 | ipaddr.IPv6;
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3') as [ipaddr.IPv6, number];
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96') as [ipaddr.IPv6, number];

function parse(address: string): Address | null {
  const bare = address.replace(/^\[|\]$/g, '');
  return ipaddr.isValid(bare) ? ipaddr.parse(bare) : null;
}

const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 255, lo >> 8, lo & 255]);

/** The IPv4 address an IPv6 address stands for or tunnels to, and how; null when it carries none. */
function embeddedIPv4(a: ipaddr.IPv6): { ip: ipaddr.IPv4; via: string; sameHost: boolean } | null {
  const p = a.parts;
  switch (a.range()) {
    case 'ipv4Mapped': return { ip: v4(p[6], p[7]), via: 'IPv4-mapped', sameHost: true };
    case 'rfc6145': return { ip: v4(p[6], p[7]), via: 'IPv4-translated', sameHost: true };
    // 64:ff9b:1::/48 (local-use NAT64) places the address by prefix length: not decoded, refused as rfc6052
    case 'rfc6052': return a.match(NAT64_WELL_KNOWN) ? { ip: v4(p[6], p[7]), via: 'NAT64', sameHost: false } : null;
    case '6to4': return { ip: v4(p[1], p[2]), via: '6to4', sameHost: false };
    default: return null;
  }
}

/** The range name with the special-purpose block it came from: 'loopback 127.0.0.0/8'. */
function rangeOf(ip: Address): string {
  const name = ip.range();
  const table = (ip as unknown as { SpecialRanges: Record<string, [Address, number] | [Address, number][]> }).SpecialRanges[name];
  const blocks = (table && Array.isArray(table[0]) ? table : table ? [table] : []) as [Address, number][];
  const block = blocks.find(([net, bits]) => ip.match(net, bits));
  return block ? `${name} ${block[0].toString()}/${block[1]}` : name;
}

/** Why an address is not global unicast ('loopback 127.0.0.0/8', 'NAT64 of 169.254.169.254: linkLocal 169.254.0.0/16', ...), or null for a global unicast one. */
export function forbiddenKind(address: string): string | null {
  const ip = parse(address);
  if (!ip) return `unparseable address ${address}`;
  if (ip instanceof ipaddr.IPv4) return ip.range() === 'unicast' ? null : rangeOf(ip);
  const inner = embeddedIPv4(ip);
  if (inner) {
    const kind = forbiddenKind(inner.ip.toString());
    return kind ? `${inner.via} of ${inner.ip}: ${kind}` : null;
  }
  if (ip.range() !== 'unicast') return rangeOf(ip);
  if (!ip.match(GLOBAL_UNICAST_V6)) return 'outside global unicast 2000::/3';
  return null;
}

/** `key`: the config variable the list comes from, named in refusals. */
export interface AllowList { key: string; hosts: Set<string>; cidrs: [Address, number][]; check(address: string): boolean }

/** Allow-list entries (of the config variable `key`): `a.b.c.d/n`, `x::/n`, a bare address (a /32 or /128), or a host name. */
export function parseAllowList(entries: readonly string[], key: string): AllowList {
  const hosts = new Set<string>();
  const cidrs: [Address, number][] = [];
  for (const raw of entries) {
    const e = raw.trim();
    if (!e) continue;
    const [net, bits] = e.split('/');
    const fam = isIP(net);
    if (fam) {
      const prefix = bits === undefined ? (fam === 4 ? 32 : 128) : Number(bits);
      if (bits === '' || !Number.isInteger(prefix) || prefix < 0 || prefix > (fam === 4 ? 32 : 128)) throw new Error(`${key}: bad prefix in ${e}`);
      cidrs.push([ipaddr.parse(net), prefix]);
    } else {
      if (bits !== undefined) throw new Error(`${key}: ${e} is neither a CIDR nor a host name`);
      hosts.add(e.toLowerCase().replace(/\.$/, ''));
    }
  }
  const inAny = (ip: Address) => cidrs.some(([net, n]) => net.kind() === ip.kind() && ip.match(net, n));
  return {
    key, hosts, cidrs,
    // an IPv4-mapped/-translated address is the same host as its IPv4 address: either form may be listed
    check: (address) => {
      const ip = parse(address);
      if (!ip) return false;
      if (inAny(ip)) return true;
      const inner = ip.kind() === 'ipv6' ? embeddedIPv4(ip as ipaddr.IPv6) : null;
      return !!inner?.sameHost && inAny(inner.ip);
    },
  };
}

export type TargetCheck = { ok: true; addresses: string[] } | { ok: false; reason: string; unresolved?: true };

/** Whether notify_url may be called: every address its host resolves to must be public or allow-listed. */
export async function checkWebhookTarget(notifyUrl: string, allow: AllowList, lookup: Lookup = defaultLookup): Promise<TargetCheck> {
  let url: URL;
  try { url = new URL(notifyUrl); } catch { return { ok: false, reason: 'notify_url is not a URL' }; }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: `notify_url scheme ${url.protocol} is not http(s)` };
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  if (allow.hosts.has(host)) return { ok: true, addresses: [] };
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host)).map((a) => a.address);
    } catch (err) {
      return { ok: false, unresolved: true, reason: `host ${host} does not resolve: ${(err as Error).message}` };
    }
    if (!addresses.length) return { ok: false, unresolved: true, reason: `host ${host} does not resolve` };
  }
  for (const a of addresses) {
    const kind = forbiddenKind(a);
    if (kind && !allow.check(a)) {
      return { ok: false, reason: `callback target ${host}${a === host ? '' : ` resolves to ${a}, which`} is not a global unicast address (${kind}); allow-list it in ${allow.key}` };
    }
  }
  return { ok: true, addresses };
}
