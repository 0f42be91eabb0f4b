import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Readable, Transform, type TransformCallback } from 'node:stream';

// An importer that fetches user-supplied URLs from inside our network is a textbook SSRF target:
// without these checks `source_url=http://169.254.169.254/…` would read cloud credentials and
// `http://10.0.0.5:6379/` would reach internal services. Every hop (the first URL and each redirect)
// is checked syntactically, and the address a hostname resolves to is checked inside the socket's
// own `lookup`, so the address we validate is the address we connect to (no DNS rebinding window).

export interface SafeFetchOptions {
  /** Hosts (exact hostnames, e.g. "127.0.0.1" or "files.intranet") or CIDR ranges (e.g. "10.1.0.0/16", "::1/128") that are allowed even though they are private/loopback. Empty by default. */
  allowList?: string[];
  /** Refuse bodies larger than this (by Content-Length up front, and by counting while streaming). */
  maxBytes: number;
  /** Whole-request deadline incl. redirects (connect + headers); the body stream is also aborted at this deadline. */
  timeoutMs: number;
  /** Redirects followed before giving up. Default 5. */
  maxRedirects?: number;
  /** Aborting destroys the request (or the body stream); safeFetch / the body then fail with `signal.reason`. */
  signal?: AbortSignal;
}

export interface SafeFetchResult {
  /** Streams the response body; errors with SourceUrlError('TOO_LARGE') if it exceeds maxBytes. */
  body: Readable;
  contentType?: string;
  contentLength?: number;
  /** A filename from Content-Disposition, else the last non-empty path segment of the final URL (decoded), else undefined. */
  filename?: string;
  finalUrl: string;
}

export type SourceUrlErrorCode =
  | 'INVALID_URL'
  | 'BLOCKED_ADDRESS'
  | 'TOO_MANY_REDIRECTS'
  | 'HTTP_STATUS'
  | 'TOO_LARGE'
  | 'TIMEOUT'
  | 'NETWORK';

/** Why a source URL was not imported. Messages are written for the API user and safe to return to them. */
export class SourceUrlError extends Error {
  constructor(
    readonly code: SourceUrlErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SourceUrlError';
  }
}

const SUBJECT = 'source_url';
const REDIRECT_SUBJECT = 'source_url redirect target';
const DEFAULT_MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const REQUEST_HEADERS = { 'user-agent': 'filehub-import/1', accept: '*/*' } as const;

// ---------------------------------------------------------------------------------------------
// Address ranges

const BLOCKED_IPV4: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, incl. the 169.254.169.254 metadata service
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, incl. 255.255.255.255
];

const BLOCKED_IPV6: ReadonlyArray<readonly [string, number]> = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
];

const blockedV4 = blockListOf(BLOCKED_IPV4, 'ipv4');
const blockedV6 = blockListOf(BLOCKED_IPV6, 'ipv6');

function blockListOf(ranges: ReadonlyArray<readonly [string, number]>, type: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, type);
  return list;
}

/** An IP literal without brackets or zone id (`[fe80::1%eth0]` → `fe80::1`), so the group parsing below sees only hex and dots. */
function bareAddress(address: string): string {
  const unbracketed = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const zone = unbracketed.indexOf('%');
  return zone === -1 ? unbracketed : unbracketed.slice(0, zone);
}

/** The eight 16-bit groups of a valid IPv6 address (dotted-quad tail included). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const tailStart = text.lastIndexOf(':') + 1;
  const tail = text.slice(tailStart);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number);
    text = `${text.slice(0, tailStart)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const zeros = rest === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => parseInt(group, 16));
}

/**
 * The IPv4 address an IPv6 address carries, for the forms that deliver to that IPv4 host:
 * IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d).
 * Without this, `[::ffff:127.0.0.1]` would pass as "just some IPv6 address".
 */
function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  const compatible = isZero(g, 0, 6);
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && isZero(g, 2, 6);
  return isMapped(g) || compatible || nat64 ? lastFourBytes(g) : undefined;
}

/** The IPv4 of an IPv4-mapped address (::ffff:a.b.c.d), else undefined. */
function mappedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  return isMapped(g) ? lastFourBytes(g) : undefined;
}

function isZero(groups: number[], from: number, to: number): boolean {
  return groups.slice(from, to).every((group) => group === 0);
}

function isMapped(groups: number[]): boolean {
  return isZero(groups, 0, 5) && groups[5] === 0xffff;
}

function lastFourBytes(groups: number[]): string {
  return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
}

function inBlockedRange(address: string): boolean {
  if (isIP(address) === 4) return blockedV4.check(address, 'ipv4');
  const ipv4 = embeddedIpv4(address);
  if (ipv4 !== undefined) return blockedV4.check(ipv4, 'ipv4');
  return blockedV6.check(address, 'ipv6');
}

// ---------------------------------------------------------------------------------------------
// Allow-list

interface AllowList {
  hosts: ReadonlySet<string>;
  ranges: BlockList;
}

/** Lower-cased, without brackets or trailing dots, so `LOCALHOST.` and `localhost` compare equal. */
function normalizeHost(host: string): string {
  return bareAddress(host.trim().toLowerCase()).replace(/\.+$/, '');
}

/**
 * Entries that are an IP or a valid CIDR become ranges; everything else is an exact hostname.
 * A malformed CIDR such as "10.0.0.0/33" therefore ends up as a hostname that matches nothing (fails closed).
 */
function compileAllowList(entries: readonly string[] = []): AllowList {
  const hosts = new Set<string>();
  const ranges = new BlockList();
  for (const entry of entries) {
    const text = normalizeHost(entry);
    const [network, prefix, extra] = text.split('/');
    const family = isIP(network);
    const bits = Number(prefix);
    if (family !== 0 && prefix === undefined) {
      ranges.addAddress(network, family === 4 ? 'ipv4' : 'ipv6');
    } else if (family !== 0 && extra === undefined && /^\d+$/.test(prefix) && bits <= (family === 4 ? 32 : 128)) {
      ranges.addSubnet(network, bits, family === 4 ? 'ipv4' : 'ipv6');
    } else {
      hosts.add(text);
    }
  }
  return { hosts, ranges };
}

function addressAllowed(address: string, allow: AllowList): boolean {
  const family = isIP(address);
  if (family === 4) return allow.ranges.check(address, 'ipv4');
  if (family !== 6) return false;
  if (allow.ranges.check(address, 'ipv6')) return true;
  // An allow-listed 127.0.0.1 also covers ::ffff:127.0.0.1: the same host, seen through a v6 socket.
  // (Only the mapped form: NAT64/compatible addresses reach a different machine than the IPv4 itself.)
  const ipv4 = mappedIpv4(address);
  return ipv4 !== undefined && allow.ranges.check(ipv4, 'ipv4');
}

function blockedWith(address: string, allow: AllowList): boolean {
  const bare = bareAddress(address.trim());
  if (allow.hosts.has(normalizeHost(bare))) return false;
  if (isIP(bare) === 0) return true; // not an address at all: fail closed
  if (addressAllowed(bare, allow)) return false;
  return inBlockedRange(bare);
}

/**
 * True when the address is in a blocked range (loopback, private, link-local, CGNAT, multicast,
 * reserved, and IPv6 forms embedding such an IPv4) and not allow-listed. Anything that is not an IP
 * literal is reported as blocked unless allow-listed by name, so a caller passing garbage fails closed.
 */
export function isBlockedAddress(address: string, allowList?: string[]): boolean {
  return blockedWith(address, compileAllowList(allowList));
}

// ---------------------------------------------------------------------------------------------
// URL checks

function blockedError(subject: string, address: string): SourceUrlError {
  return new SourceUrlError(
    'BLOCKED_ADDRESS',
    `${subject} resolves to ${address}, a loopback/private/link-local address; it is not fetched`,
  );
}

function parseUrl(url: string, subject: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new SourceUrlError('INVALID_URL', `${subject} is not a valid URL`);
  }
}

function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

function checkUrl(url: string, allow: AllowList, subject: string): URL {
  const parsed = parseUrl(url, subject);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new SourceUrlError('INVALID_URL', `${subject} must be http or https`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new SourceUrlError('INVALID_URL', `${subject} must not contain a user name or password`);
  }
  // The WHATWG parser already turned 2130706433, 0x7f.1, 127.1, 0177.0.0.1 into 127.0.0.1.
  const host = normalizeHost(parsed.hostname);
  if (host === '') throw new SourceUrlError('INVALID_URL', `${subject} must have a host`);
  if (isIP(host) !== 0 && blockedWith(host, allow)) throw blockedError(subject, host);
  if (isLocalhostName(host) && blockedWith(host, allow)) {
    throw new SourceUrlError('BLOCKED_ADDRESS', `${subject} points to ${host}, a loopback host name; it is not fetched`);
  }
  return parsed;
}

/**
 * Synchronous checks that need no DNS: scheme http/https only, no credentials in the URL, host present,
 * a literal IP (v4/v6, incl. forms like 2130706433, 0x7f.1, 127.1, [::ffff:127.0.0.1]) not in a blocked
 * range unless allow-listed, hostname "localhost"/"*.localhost" blocked unless allow-listed.
 * Lets a request be refused up front; hostnames are checked again after resolution by pinnedLookup.
 * Throws SourceUrlError. Returns the parsed URL.
 */
export function checkSourceUrl(url: string, allowList?: string[]): URL {
  return checkUrl(url, compileAllowList(allowList), SUBJECT);
}

// ---------------------------------------------------------------------------------------------
// Pinned DNS lookup

function lookupWith(allow: AllowList, subject: string): LookupFunction {
  return (hostname, options, callback) => {
    const lookupOptions: LookupOptions & { all: true } = { ...options, all: true };
    dnsLookup(hostname, lookupOptions, (err, addresses) => {
      if (err) return callback(err, []);
      if (addresses.length === 0) {
        return callback(new SourceUrlError('NETWORK', `${subject} host ${hostname} has no address`), []);
      }
      if (!allow.hosts.has(normalizeHost(hostname))) {
        const blocked = addresses.find(({ address }) => blockedWith(address, allow));
        if (blocked) return callback(blockedError(subject, blocked.address), []);
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/**
 * A `lookup` for net/http/https that resolves with `dns.lookup(host, {all: true})` and fails with
 * SourceUrlError('BLOCKED_ADDRESS') if ANY resolved address is blocked (a host allow-listed by name skips
 * the check). The socket connects to exactly the addresses validated here, so a DNS answer cannot change
 * between the check and the connect (DNS rebinding). Honours `options.all` (Node's happy-eyeballs path).
 */
export function pinnedLookup(allowList?: string[], subject: string = SUBJECT): LookupFunction {
  return lookupWith(compileAllowList(allowList), subject);
}

// ---------------------------------------------------------------------------------------------
// Deadline and abort

interface Deadline {
  /** Aborted at the deadline (reason: SourceUrlError TIMEOUT) or when the caller's signal aborts (its reason). */
  signal: AbortSignal;
  dispose(): void;
}

function startDeadline(timeoutMs: number, outer?: AbortSignal): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new SourceUrlError('TIMEOUT', `${SUBJECT} did not complete within ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onOuterAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    },
  };
}

/** Streams are destroyed with an Error; a caller may abort with any value, so wrap those. */
function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Aborts surface as the abort reason; our own errors pass through; anything else is a network failure. */
function fetchError(err: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  if (err instanceof SourceUrlError) return err;
  return new SourceUrlError('NETWORK', `${SUBJECT} could not be fetched: ${messageOf(err)}`);
}

// ---------------------------------------------------------------------------------------------
// Requests and redirects

interface FetchContext {
  allow: AllowList;
  maxRedirects: number;
  signal: AbortSignal;
}

function requestOnce(url: URL, lookup: LookupFunction, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const options: http.RequestOptions = {
      protocol: url.protocol,
      hostname: bareAddress(url.hostname),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { ...REQUEST_HEADERS },
      lookup,
      agent: false, // a fresh connection per hop: never reuse a socket validated for another host
    };
    const req = url.protocol === 'https:' ? https.request(options) : http.request(options);
    const onAbort = () => req.destroy(asError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    req.once('response', (response) => {
      signal.removeEventListener('abort', onAbort);
      resolve(response);
    });
    // Stays attached after the response so late socket errors never become unhandled 'error' events.
    req.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(fetchError(err, signal));
    });
    req.end();
  });
}

function discard(response: IncomingMessage): void {
  response.on('error', () => undefined);
  response.destroy();
}

function redirectLocation(response: IncomingMessage): string | undefined {
  const location = response.headers.location;
  return REDIRECT_STATUSES.has(response.statusCode ?? 0) && location ? location : undefined;
}

function resolveLocation(location: string, base: URL): string {
  try {
    return new URL(location, base).href;
  } catch {
    throw new SourceUrlError('INVALID_URL', `${REDIRECT_SUBJECT} is not a valid URL`);
  }
}

/** Follows redirects by hand so every hop goes through checkUrl and the pinned lookup again. */
async function fetchFollowingRedirects(
  start: URL,
  context: FetchContext,
): Promise<{ response: IncomingMessage; url: URL }> {
  const firstLookup = lookupWith(context.allow, SUBJECT);
  const redirectLookup = lookupWith(context.allow, REDIRECT_SUBJECT);
  let url = start;
  for (let redirects = 0; ; redirects++) {
    const response = await requestOnce(url, redirects === 0 ? firstLookup : redirectLookup, context.signal);
    const location = redirectLocation(response);
    if (location === undefined) return { response, url };
    discard(response);
    if (redirects >= context.maxRedirects) {
      throw new SourceUrlError('TOO_MANY_REDIRECTS', `${SUBJECT} redirected more than ${context.maxRedirects} times`);
    }
    url = checkUrl(resolveLocation(location, url), context.allow, REDIRECT_SUBJECT);
  }
}

// ---------------------------------------------------------------------------------------------
// Response

function tooLarge(maxBytes: number): SourceUrlError {
  return new SourceUrlError('TOO_LARGE', `The source file is larger than ${maxBytes} bytes`);
}

function parseContentLength(header: string | undefined): number | undefined {
  return header !== undefined && /^\d+$/.test(header.trim()) ? Number(header.trim()) : undefined;
}

/**
 * The response body, capped at maxBytes and cut at the deadline. Whichever way the body stream ends
 * (consumed, errored, destroyed by the caller), the response and its socket are destroyed and the timer cleared.
 */
function limitedBody(response: IncomingMessage, maxBytes: number, deadline: Deadline): Readable {
  let received = 0;
  const body = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      received += chunk.length;
      if (received > maxBytes) callback(tooLarge(maxBytes));
      else callback(null, chunk);
    },
  });
  const onAbort = () => body.destroy(asError(deadline.signal.reason));
  deadline.signal.addEventListener('abort', onAbort, { once: true });
  const networkError = (err: unknown) => new SourceUrlError('NETWORK', `${SUBJECT} could not be fetched: ${messageOf(err)}`);
  response.on('error', (err) => body.destroy(networkError(err)));
  response.on('close', () => {
    if (!response.complete) body.destroy(networkError('the connection closed before the body was complete'));
  });
  body.on('close', () => {
    deadline.signal.removeEventListener('abort', onAbort);
    deadline.dispose();
    response.destroy();
  });
  response.pipe(body);
  if (deadline.signal.aborted) onAbort();
  return body;
}

/** RFC 5987 `charset'lang'%XX…` (filename*). Only UTF-8 and ISO-8859-1 are required to be supported. */
function decodeExtValue(value: string): string | undefined {
  const match = /^([^']*)'[^']*'(.*)$/.exec(value);
  if (!match) return undefined;
  const charset = match[1].toLowerCase();
  if (charset !== 'utf-8' && charset !== 'iso-8859-1') return undefined;
  const bytes = match[2].replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString(charset === 'utf-8' ? 'utf8' : 'latin1');
}

function dispositionFilename(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const extended = /(?:^|;)\s*filename\*\s*=\s*([^;\s]+)/i.exec(header);
  const decoded = extended ? decodeExtValue(extended[1].replace(/^"(.*)"$/, '$1')) : undefined;
  if (decoded) return decoded;
  const plain = /(?:^|;)\s*filename\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]+)/i.exec(header);
  if (!plain) return undefined;
  const value = plain[1];
  return value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
}

function lastPathSegment(url: URL): string | undefined {
  const segment = url.pathname.split('/').filter(Boolean).pop();
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** A bare file name: no directories, no control characters, not "." or "..". */
function cleanFilename(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? undefined : cleaned;
}

function toResult(response: IncomingMessage, url: URL, maxBytes: number, deadline: Deadline): SafeFetchResult {
  const status = response.statusCode ?? 0;
  if (status < 200 || status > 299) {
    discard(response);
    throw new SourceUrlError('HTTP_STATUS', `The source answered ${status}`);
  }
  const contentLength = parseContentLength(response.headers['content-length']);
  if (contentLength !== undefined && contentLength > maxBytes) {
    discard(response);
    throw tooLarge(maxBytes);
  }
  return {
    body: limitedBody(response, maxBytes, deadline),
    contentType: response.headers['content-type'],
    contentLength,
    filename:
      cleanFilename(dispositionFilename(response.headers['content-disposition'])) ??
      cleanFilename(lastPathSegment(url)),
    finalUrl: url.href,
  };
}

/**
 * GETs a user-supplied http(s) URL without letting it reach loopback, private, link-local or metadata
 * addresses: the URL and every redirect hop are checked, hostnames are resolved once and the socket is
 * pinned to the checked addresses. Resolves once a 2xx response's headers arrived; the body is streamed
 * and capped at maxBytes. Sends no cookies or credentials. Fails with SourceUrlError, or with
 * `options.signal.reason` when the caller aborts.
 */
export async function safeFetch(url: string, options: SafeFetchOptions): Promise<SafeFetchResult> {
  const allow = compileAllowList(options.allowList);
  const start = checkUrl(url, allow, SUBJECT);
  const deadline = startDeadline(options.timeoutMs, options.signal);
  try {
    const context = { allow, maxRedirects: options.maxRedirects ?? DEFAULT_MAX_REDIRECTS, signal: deadline.signal };
    const { response, url: finalUrl } = await fetchFollowingRedirects(start, context);
    return toResult(response, finalUrl, options.maxBytes, deadline);
  } catch (err) {
    deadline.dispose();
    throw err;
  }
}
