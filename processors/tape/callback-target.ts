// SSRF guard of callback targets: a notify_url whose host is (or resolves to) a loopback, private,
// link-local, unspecified, multicast or broadcast address is refused unless TAPE_CALLBACK_ALLOW
// names it (CIDRs and/or host names). Checked when a job is submitted (POST /staging) and again at
// every delivery (DNS answers can change between the two).
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export type Lookup = (host: string) => Promise<{ address: string; family: number }[]>;
export const defaultLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

const FORBIDDEN: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'unspecified'],
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['10.0.0.0', 8, 'ipv4', 'private'],
  ['172.16.0.0', 12, 'ipv4', 'private'],
  ['192.168.0.0', 16, 'ipv4', 'private'],
  ['169.254.0.0', 16, 'ipv4', 'link-local'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['255.255.255.255', 32, 'ipv4', 'broadcast'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['fc00::', 7, 'ipv6', 'private'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['ff00::', 8, 'ipv6', 'multicast'],
];
const ranges = FORBIDDEN.map(([net, prefix, type, kind]) => {
  const b = new BlockList();
  b.addSubnet(net, prefix, type);
  return { b, type, kind, cidr: `${net}/${prefix}` };
});

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged as its IPv4 address. */
function normalise(ip: string): { ip: string; type: 'ipv4' | 'ipv6' } {
  const bare = ip.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return { ip: mapped[1], type: 'ipv4' };
  // the WHATWG URL parser writes ::ffff:127.0.0.1 as ::ffff:7f00:1
  const hex = /^(?:0{0,4}:){0,5}:?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(bare);
  if (hex && isIP(bare) === 6) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return { ip: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, type: 'ipv4' };
  }
  return { ip: bare, type: isIP(bare) === 6 ? 'ipv6' : 'ipv4' };
}

/** The forbidden range an address falls in ('private', 'loopback', ...), or null for a public address. */
export function forbiddenKind(address: string): string | null {
  const { ip, type } = normalise(address);
  for (const r of ranges) if (r.type === type && r.b.check(ip, type)) return `${r.kind} ${r.cidr}`;
  return null;
}

export interface AllowList { hosts: Set<string>; cidrs: BlockList; check(address: string): boolean }

/** TAPE_CALLBACK_ALLOW entries: `a.b.c.d/n`, `x::/n`, a bare address (a /32 or /128), or a host name. */
export function parseAllowList(entries: readonly string[]): AllowList {
  const hosts = new Set<string>();
  const cidrs = new BlockList();
  for (const raw of entries) {
    const e = raw.trim();
    if (!e) continue;
    const [net, bits] = e.split('/');
    const fam = isIP(net);
    if (fam) {
      const type = fam === 4 ? 'ipv4' : 'ipv6';
      const prefix = bits === undefined ? (fam === 4 ? 32 : 128) : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (fam === 4 ? 32 : 128)) throw new Error(`TAPE_CALLBACK_ALLOW: bad prefix in ${e}`);
      cidrs.addSubnet(net, prefix, type);
    } else {
      if (bits !== undefined) throw new Error(`TAPE_CALLBACK_ALLOW: ${e} is neither a CIDR nor a host name`);
      hosts.add(e.toLowerCase().replace(/\.$/, ''));
    }
  }
  return {
    hosts, cidrs,
    check: (address) => { const { ip, type } = normalise(address); return cidrs.check(ip, type); },
  };
}

export type TargetCheck = { ok: true; addresses: string[] } | { ok: false; reason: string; unresolved?: true };

/** Whether notify_url may be called: every address its host resolves to must be public or allow-listed. */
export async function checkCallbackTarget(notifyUrl: string, allow: AllowList, lookup: Lookup = defaultLookup): Promise<TargetCheck> {
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
      return { ok: false, reason: `callback target ${host}${a === host ? '' : ` resolves to ${a}, which`} is in a ${kind} range; allow-list it in TAPE_CALLBACK_ALLOW` };
    }
  }
  return { ok: true, addresses };
}
