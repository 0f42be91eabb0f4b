import { createParamDecorator, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import type { Request } from 'express';
import { Errors } from '@app/errors';
import { isPrivileged, type Principal } from './principal';
import { TokenService } from './token.service';

const PUBLIC_KEY = 'auth:public';
const SERVER_SIDE_KEY = 'auth:server-side';
/** The route authenticates by other means (a signature, a public link) or not at all. */
export const Public = () => SetMetadata(PUBLIC_KEY, true);
const SIGNED_URL_KEY = 'auth:signed-url';
/**
 * The route also takes a signed URL as its credential: a request whose query carries `signature` passes without a
 * token (and with no principal), and the handler must verify the signature itself.
 */
export const AcceptsSignedUrl = () => SetMetadata(SIGNED_URL_KEY, true);
/** Operations a seed marks "server side only": a `service` or `admin` token is required. */
export const ServerSideOnly = () => SetMetadata(SERVER_SIDE_KEY, true);

function operationName(context: ExecutionContext): string {
  return context.getType<string>() === 'graphql' ? GqlExecutionContext.create(context).getInfo<{ fieldName: string }>().fieldName : context.getHandler().name;
}

type AuthedRequest = Request & { principal?: Principal };

function requestOf(context: ExecutionContext): AuthedRequest {
  if (context.getType<string>() === 'graphql') {
    return GqlExecutionContext.create(context).getContext<{ req: AuthedRequest }>().req;
  }
  return context.switchToHttp().getRequest<AuthedRequest>();
}

/**
 * The `token` cookie a browser session carries (epilot's getSession sets it: HttpOnly, SameSite=Strict, so other
 * sites cannot make the browser send it). A bearer header, when present, always wins.
 */
function sessionToken(req: Request): string | undefined {
  return cookieValue(req, 'token');
}

/** One cookie of the request, decoded; undefined when absent. */
export function cookieValue(req: Pick<Request, 'headers'>, cookie: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === cookie && value.length) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/** One guard for REST and GraphQL: every route needs a valid bearer token unless marked @Public(). */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly tokens: TokenService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    const req = requestOf(context);
    const signedUrl = this.reflector.getAllAndOverride<boolean>(SIGNED_URL_KEY, [context.getHandler(), context.getClass()]);
    if (signedUrl && context.getType<string>() === 'http' && req.query?.signature !== undefined) return true;
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    const token = match?.[1] ?? sessionToken(req);
    if (!token) throw Errors.unauthenticated('Missing bearer token: send Authorization: Bearer <JWT>');
    req.principal = await this.tokens.verify(token);
    const serverSide = this.reflector.getAllAndOverride<boolean>(SERVER_SIDE_KEY, [context.getHandler(), context.getClass()]);
    if (serverSide && !isPrivileged(req.principal)) {
      throw Errors.forbidden(`${operationName(context)} is server-side only: it needs a service or admin token`);
    }
    return true;
  }
}

/** The caller, or undefined on a route that took a signed URL instead (see AcceptsSignedUrl). */
export const OptionalPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal | undefined => requestOf(context).principal);

/** The caller of an authenticated route. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = requestOf(context).principal;
  if (!principal) throw Errors.unauthenticated();
  return principal;
});
