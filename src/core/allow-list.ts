/**
 * Source-address allow-lists (CIDRs, IPv4 and IPv6) for listeners. Pure: built once from
 * the config, asked per accepted socket. An IPv4-mapped IPv6 peer (`::ffff:10.0.0.7`, what a
 * socket on `::` reports for an IPv4 client) is checked as the IPv4 address it carries, so
 * one list works whatever family the listener binds.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** `10.0.0.0/8`, `2001:db8::/32`, or a single address (a /32 or /128). */
export const cidrSchema = z
  .string()
  .refine((s) => parseCidr(s) !== undefined, 'an IPv4 or IPv6 address or CIDR, e.g. 10.20.0.0/16')
  .describe('Source address or CIDR allowed');

interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The address as a BlockList checks it: IPv4-mapped IPv6 unwrapped to IPv4. */
export function normaliseAddress(address: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const plain = mapped?.[1] ?? address;
  const version = isIP(plain);
  if (version === 0) return undefined;
  return { address: plain, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export class AllowList {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    let n = 0;
    for (const text of cidrs) {
      const c = parseCidr(text);
      if (!c) throw new Error(`not an address or CIDR: ${text}`);
      this.list.addSubnet(c.address, c.prefix, c.family);
      n++;
    }
    this.size = n;
  }

  /** True when the address is in one of the CIDRs. An unparsable address is never allowed. */
  allows(address: string | undefined): boolean {
    if (address === undefined) return false;
    const a = normaliseAddress(address);
    return a !== undefined && this.list.check(a.address, a.family);
  }
}

/** `undefined` (no list configured) allows every source; a list allows only its CIDRs. */
export function allowListOf(cidrs: readonly string[] | undefined): AllowList | undefined {
  return cidrs === undefined ? undefined : new AllowList(cidrs);
}
