export type ClamdAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/**
 * `tcp://host:port` (IPv6 in brackets: `tcp://[::1]:3310`) or `unix:/path/to/clamd.ctl` (also `unix:///path`).
 * Throws an Error naming what is wrong; the config schema turns it into a one-line start-up failure.
 */
export function parseClamdAddress(raw: string): ClamdAddress {
  const value = raw.trim();
  if (value.startsWith('unix:')) {
    const path = value.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path.startsWith('/')) throw new Error('must be unix:/absolute/path/to/clamd.ctl');
    return { kind: 'unix', path };
  }
  const match = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:/[\]]+):(\d{1,5})\/?$/.exec(value);
  if (!match) throw new Error('must be tcp://host:port or unix:/path/to/clamd.ctl');
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new Error('port must be from 1 to 65535');
  return { kind: 'tcp', host: match[1].replace(/^\[|\]$/g, ''), port };
}

export function describeClamdAddress(address: ClamdAddress): string {
  return address.kind === 'unix' ? `unix:${address.path}` : `tcp://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}
