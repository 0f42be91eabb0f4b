// The console's only way to the service: its public HTTP API, with the signed-in user's bearer token.

export interface FileSummary {
  id: string;
  name: string;
  status: 'UPLOADING' | 'PROCESSING' | 'READY' | 'FAILED' | 'QUARANTINED';
  failureReason: string | null;
  contentType: string;
  size: number | null;
  sha256: string | null;
  visibility: 'private' | 'public';
  ownerId: string;
  organizationId: string | null;
  pageCount: number | null;
  width: number | null;
  height: number | null;
  createdAt: string;
  updatedAt: string;
  tags: string[];
  associations: { id: string; entityName: string; entityReference: string }[];
  thumbnails: { variant: string; width: number; height: number }[];
  versions: { version: number; name: string; size: number | null; sha256: string | null; contentType: string | null; createdAt: string }[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'filehub.token';

export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  const json = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const message = (json as { message?: string; error?: string } | undefined)?.message ?? `${method} ${path} answered ${res.status}`;
    throw new ApiError(res.status, message);
  }
  return json as T;
}

/** Checks a token by using it, and turns it into the session cookie that lets <img> load previews. */
export async function signIn(token: string): Promise<{ userId: string; orgId: string | null }> {
  const claims = decodeClaims(token);
  session.set(token);
  try {
    await call('GET', '/files?limit=1');
    await call('GET', '/v1/files/session');
  } catch (error) {
    session.clear();
    throw error;
  }
  return claims;
}

export async function signOut(): Promise<void> {
  await call('DELETE', '/v1/files/session').catch(() => undefined);
  session.clear();
}

export function decodeClaims(token: string): { userId: string; orgId: string | null } {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: string; org?: string };
    if (!payload.sub) throw new Error('no sub');
    return { userId: payload.sub, orgId: payload.org ?? null };
  } catch {
    throw new ApiError(400, 'That is not a JWT (three base64url parts with a "sub" claim)');
  }
}

export interface Upload {
  done: Promise<FileSummary>;
  cancel(): void;
}

/** One file to POST /files, with progress from XMLHttpRequest (fetch cannot report upload progress). */
export function upload(file: File, onProgress: (loaded: number, total: number) => void): Upload {
  const xhr = new XMLHttpRequest();
  const done = new Promise<FileSummary>((resolve, reject) => {
    xhr.open('POST', '/files');
    if (session.token) xhr.setRequestHeader('authorization', `Bearer ${session.token}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    };
    xhr.onload = () => {
      const body = xhr.responseText ? (JSON.parse(xhr.responseText) as FileSummary & { message?: string }) : undefined;
      if (xhr.status === 201 && body) resolve(body);
      else reject(new ApiError(xhr.status, body?.message ?? `Upload answered ${xhr.status}`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'Network error'));
    xhr.onabort = () => reject(new ApiError(0, 'Cancelled'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { done, cancel: () => xhr.abort() };
}
