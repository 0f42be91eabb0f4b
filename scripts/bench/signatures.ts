import 'reflect-metadata';
import { createSecretKey } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { TokenService } from '@app/auth';
import { loadConfig } from '@app/config';
import type { Db } from '@app/database';
import { FileClientsService, FileSignaturesService } from '@app/signatures';
import { median, row, type BenchResult, type BenchRow } from './report';
import type { SuiteOptions } from './support';

// Issue and verify per second: our FileSignaturesService (the signed flow's HS256 `signature`) beside raw `jose`,
// our TokenService (bearer tokens, via @nestjs/jwt) beside raw `jsonwebtoken`, on the same payloads and secrets,
// in this one process, in alternating rounds.

const TARGET = { min: 0.7 };
const CLIENT_ID = 'bench-client';
const CLIENT_SECRET = 'bench-client-secret-0123456789abcdef';
const JWT_SECRET = 'bench-bearer-secret-0123456789abcdef';
const PAYLOAD = { fileId: '1d7c2f0e-6a5e-4c1b-9d55-7f1b0b0f6a11', fileClientId: CLIENT_ID, user: { id: 'user-1' } };

type Op = () => unknown;

/** Operations per second of `op` over a window, awaiting each (the services are async). */
async function opsPerSecond(op: Op, windowMs: number): Promise<number> {
  const start = process.hrtime.bigint();
  const end = start + BigInt(windowMs) * 1_000_000n;
  let count = 0;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 100; i++) await op();
    count += 100;
    now = process.hrtime.bigint();
  }
  return count / (Number(now - start) / 1e9);
}

export async function signaturesBench(options: SuiteOptions): Promise<BenchResult> {
  const started = Date.now();
  const config = loadConfig({
    NODE_ENV: 'production',
    AUTH_JWT_SECRET: JWT_SECRET,
    FILE_CLIENTS: JSON.stringify({ [CLIENT_ID]: CLIENT_SECRET }),
    DATA_DIR: options.tmp,
  });
  // A client from FILE_CLIENTS never reaches the database (FileClientsService.secrets), so none is given.
  const clients = new FileClientsService(null as unknown as Db, config);
  const signatures = new FileSignaturesService(clients);
  const tokens = new TokenService(config);
  const key = new TextEncoder().encode(CLIENT_SECRET);
  // jsonwebtoken at its fastest: a KeyObject (given a string it first tries, and fails, to parse a PEM key each call).
  const jwtKey = createSecretKey(Buffer.from(JWT_SECRET, 'utf8'));

  const ourSignature = await signatures.sign(CLIENT_ID, PAYLOAD);
  const joseSignature = await new SignJWT(PAYLOAD).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime('300s').sign(key);
  const principal = { sub: 'user-1', org: 'org-1', role: 'user' as const };
  const ourToken = tokens.sign(principal);
  const rawToken = jsonwebtoken.sign({ sub: 'user-1', role: 'user', org: 'org-1' }, jwtKey, { algorithm: 'HS256', expiresIn: 3600 });
  // Each side verifies what it issued; both must accept the other's too (same algorithm, same secret).
  await signatures.verify(joseSignature, CLIENT_ID);
  await tokens.verify(rawToken);

  const pairs: { case: string; ours: Op; raw: Op }[] = [
    {
      case: 'signature issue (FileSignaturesService.sign vs jose SignJWT)',
      ours: () => signatures.sign(CLIENT_ID, PAYLOAD),
      raw: () => new SignJWT(PAYLOAD).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime('300s').sign(key),
    },
    {
      case: 'signature verify (FileSignaturesService.verify vs jose jwtVerify)',
      ours: () => signatures.verify(ourSignature, CLIENT_ID),
      raw: () => jwtVerify(joseSignature, key, { algorithms: ['HS256'] }),
    },
    {
      case: 'bearer issue (TokenService.sign vs jsonwebtoken.sign)',
      ours: () => tokens.sign(principal),
      raw: () => jsonwebtoken.sign({ sub: 'user-1', role: 'user', org: 'org-1' }, jwtKey, { algorithm: 'HS256', expiresIn: 3600 }),
    },
    {
      case: 'bearer verify (TokenService.verify vs jsonwebtoken.verify)',
      ours: () => tokens.verify(ourToken),
      raw: () => jsonwebtoken.verify(rawToken, jwtKey, { algorithms: ['HS256'] }),
    },
  ];

  const windowMs = Number(process.env.BENCH_SIGNATURES_WINDOW_MS ?? (options.quick ? 250 : 2000));
  const rounds = options.quick ? 3 : 5;
  const rows: BenchRow[] = [];
  for (const pair of pairs) {
    // Warm-up: let the JIT settle on both paths before anything counts.
    await opsPerSecond(pair.ours, 200);
    await opsPerSecond(pair.raw, 200);
    const ours: number[] = [];
    const raw: number[] = [];
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        ours.push(await opsPerSecond(pair.ours, windowMs));
        raw.push(await opsPerSecond(pair.raw, windowMs));
      } else {
        raw.push(await opsPerSecond(pair.raw, windowMs));
        ours.push(await opsPerSecond(pair.ours, windowMs));
      }
    }
    options.log(`  ${pair.case}: ${median(ours).toFixed(0)} vs ${median(raw).toFixed(0)} per second`);
    rows.push(row({ case: pair.case, metric: 'ops/s', filehub: median(ours), baseline: median(raw), target: TARGET }));
  }
  return {
    name: 'signatures',
    title: 'Signatures: issue and verify per second (one core, one process)',
    baseline: 'raw jose (SignJWT / jwtVerify) and raw jsonwebtoken (sign / verify with a secret KeyObject), same payload, secret and algorithm',
    rows,
    skipped: [],
    seconds: (Date.now() - started) / 1000,
  };
}
