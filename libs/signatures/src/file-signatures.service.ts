import { Injectable } from '@nestjs/common';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { Errors } from '@app/errors';
import { FileClientsService } from './file-clients.service';

/** Both `signature` and `publicSignature` live five minutes (seed: exp = iat + 300). */
export const SIGNATURE_TTL_SECONDS = 300;

const encoder = new TextEncoder();

/**
 * HS256 tokens signed with a file client's secret: the seed's `signature` and `publicSignature`. Verification
 * pins the algorithm to HS256 (an `alg: none` or RS256 token is refused before any key is looked at), checks the
 * expiry, and accepts the client's previous secret while its rotation grace lasts.
 */
@Injectable()
export class FileSignaturesService {
  constructor(private readonly clients: FileClientsService) {}

  async sign(fileClientId: string, payload: Record<string, unknown>): Promise<string> {
    const secrets = await this.clients.secrets(fileClientId);
    if (!secrets) throw Errors.badRequest(`Unknown fileClientId '${fileClientId}'`, { field: 'fileClientId' });
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(iat)
      .setExpirationTime(iat + SIGNATURE_TTL_SECONDS)
      .sign(encoder.encode(secrets.current));
  }

  /** Reads a token's claims without trusting them, to learn which client's secret must verify it. */
  peek(token: string): JWTPayload {
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== 'HS256') throw Errors.signatureInvalid(`The signature must be an HS256 token, not ${String(header.alg)}`);
      return decodeJwt(token);
    } catch (error) {
      if (error instanceof Error && error.name === 'AppError') throw error;
      throw Errors.signatureInvalid('The signature is not a well-formed token');
    }
  }

  /** Verifies `token` with the secret(s) of `fileClientId`; answers its payload. */
  async verify(token: string, fileClientId: string): Promise<JWTPayload> {
    this.peek(token);
    const secrets = await this.clients.secrets(fileClientId);
    if (!secrets) throw Errors.signatureInvalid(`The signature's file client '${fileClientId}' is not registered`);
    const candidates = [secrets.current, ...(secrets.previous ? [secrets.previous] : [])];
    let lastError: unknown;
    for (const secret of candidates) {
      try {
        const { payload } = await jwtVerify(token, encoder.encode(secret), { algorithms: ['HS256'] });
        return payload;
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) throw Errors.signatureExpired('The signature has expired; upload or share the file again for a new one');
        lastError = error;
      }
    }
    if (lastError instanceof joseErrors.JWTClaimValidationFailed) {
      throw Errors.signatureInvalid(`The signature's claims are invalid: ${lastError.message}`);
    }
    throw Errors.signatureInvalid(`The signature does not verify with the secret of file client '${fileClientId}'`);
  }
}
