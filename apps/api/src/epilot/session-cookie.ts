/** The cookie epilot's getSession sets (its CookieAuth scheme names it `token`). */
export const SESSION_COOKIE = 'token';

/**
 * HttpOnly (scripts cannot read it), SameSite=Strict (other sites' pages cannot make the browser send it, which is
 * what keeps cookie-authenticated state changes safe from CSRF), Secure over HTTPS, and no longer-lived than the
 * token it carries.
 */
export function sessionCookie(token: string, secure: boolean): string {
  let maxAge = 3600;
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: number };
    if (typeof claims.exp === 'number') maxAge = Math.max(0, claims.exp - Math.floor(Date.now() / 1000));
  } catch {
    // An unreadable token is refused by the guard on its next use anyway.
  }
  return `${SESSION_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}
