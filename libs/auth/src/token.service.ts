import { createSecretKey } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { Errors } from '@app/errors';
import { ROLES, type Principal, type Role } from './principal';

const ASYMMETRIC = ['RS256', 'ES256'];

@Injectable()
export class TokenService {
  private readonly jwks?: ReturnType<typeof createRemoteJWKSet>;
  private readonly jwt: JwtService;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    // The algorithm is pinned: `alg: none` and HS/RS confusion are refused before any claim is read.
    this.jwt = new JwtService({
      // A KeyObject, not the string: given a string, jsonwebtoken first tries to parse it as a PEM public key and
      // only falls back to an HMAC secret once that throws, on every call (about 80× slower; see docs/benchmarks.md).
      secret: createSecretKey(Buffer.from(config.auth.jwtSecret, 'utf8')),
      signOptions: { algorithm: 'HS256' },
      verifyOptions: { algorithms: ['HS256'] },
    });
    if (config.auth.jwksUrl) this.jwks = createRemoteJWKSet(new URL(config.auth.jwksUrl));
  }

  async verify(token: string): Promise<Principal> {
    let claims: Record<string, unknown>;
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw Errors.unauthenticated('The bearer token is not a JWT');
    }
    try {
      if (alg === 'HS256') {
        claims = await this.jwt.verifyAsync<Record<string, unknown>>(token);
      } else if (alg && ASYMMETRIC.includes(alg) && this.jwks) {
        claims = (await jwtVerify(token, this.jwks, { algorithms: ASYMMETRIC })).payload as JWTPayload;
      } else {
        throw Errors.unauthenticated(`Tokens signed with ${alg ?? 'no algorithm'} are not accepted`);
      }
    } catch (error) {
      if ((error as { name?: string }).name === 'AppError') throw error;
      const expired = (error as { name?: string }).name === 'TokenExpiredError' || (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw Errors.unauthenticated(expired ? 'The bearer token has expired' : 'The bearer token is invalid');
    }
    return principalFromClaims(claims);
  }

  /** Development tokens (`npm run token`) and tests. */
  sign(principal: { sub: string; org?: string; role?: Role }, expiresInSeconds = 3600): string {
    const payload: Record<string, unknown> = { sub: principal.sub, role: principal.role ?? 'user' };
    if (principal.org) payload.org = principal.org;
    return this.jwt.sign(payload, { expiresIn: expiresInSeconds });
  }
}

// Clocks drift a little; a token issued further ahead than this was minted wrongly or forged to live longer.
const MAX_CLOCK_SKEW_SECONDS = 60;

export function principalFromClaims(claims: Record<string, unknown>): Principal {
  const { sub, org, role, iat, nbf } = claims;
  const now = Math.floor(Date.now() / 1000);
  if (typeof iat === 'number' && iat > now + MAX_CLOCK_SKEW_SECONDS) throw Errors.unauthenticated('The bearer token is issued in the future (iat)');
  if (typeof nbf === 'number' && nbf > now + MAX_CLOCK_SKEW_SECONDS) throw Errors.unauthenticated('The bearer token is not valid yet (nbf)');
  if (typeof sub !== 'string' || sub.length === 0) throw Errors.unauthenticated('The bearer token has no subject (sub)');
  if (org !== undefined && (typeof org !== 'string' || org.length === 0)) {
    throw Errors.unauthenticated('The bearer token has an invalid org claim');
  }
  if (role !== undefined && !ROLES.includes(role as Role)) {
    throw Errors.unauthenticated(`The bearer token has an unknown role: ${String(role)}`);
  }
  return { userId: sub, orgId: (org as string | undefined) ?? null, role: (role as Role | undefined) ?? 'user' };
}
