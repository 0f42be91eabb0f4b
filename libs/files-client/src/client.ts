import type {
  AttachOptions,
  AttachResponse,
  BuildMetaOptions,
  ConnectionOptions,
  FileMeta,
  ShareOptions,
  ShareResponse,
  UploadableFile,
  UploadOptions,
  UploadProgress,
  UploadResponse,
} from './types';

/** A refused request: `status` and the server's `message` (and Condo's `type`, when it sent one). */
export class FilesApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
    /** The request field at fault, when the server named one (e.g. `meta.user.id`). */
    readonly field?: string,
    /** Condo's error type (`INVALID_META`, `RATE_LIMIT_EXCEEDED`…). */
    readonly type?: string,
  ) {
    super(message);
    this.name = 'FilesApiError';
  }
}

let defaults: ConnectionOptions = {};

/** Defaults for every later call (server URL, token, headers); each call may still override them. */
export function configure(options: ConnectionOptions): void {
  defaults = { ...defaults, ...options };
}

export function buildMeta({ userId, fileClientId, modelNames, fingerprint, organizationId }: BuildMetaOptions): FileMeta {
  return {
    dv: 1,
    sender: { dv: 1, fingerprint },
    user: { id: userId },
    fileClientId,
    modelNames,
    ...(organizationId ? { organization: { id: organizationId } } : {}),
  };
}

interface GlobalWithEnv {
  process?: { env?: Record<string, string | undefined> };
  window?: { location?: { origin?: string } };
  XMLHttpRequest?: new () => XhrLike;
}

export function serverUrl(options: ConnectionOptions): string {
  const g = globalThis as GlobalWithEnv;
  const env = g.process?.env ?? {};
  const url =
    options.serverUrl ??
    defaults.serverUrl ??
    (g.window ? env.NEXT_PUBLIC_FILE_SERVER_URL || env.NEXT_PUBLIC_SERVER_URL : env.FILE_SERVER_URL || env.SERVER_URL) ??
    g.window?.location?.origin;
  if (!url) throw new Error('No file server URL: pass serverUrl, call configure({serverUrl}), or set FILE_SERVER_URL');
  return url.replace(/\/+$/, '');
}

export async function headersFor(options: ConnectionOptions): Promise<Record<string, string>> {
  const token = options.token ?? defaults.token;
  const value = typeof token === 'function' ? await token() : token;
  return { ...defaults.headers, ...options.headers, ...(value ? { authorization: `Bearer ${value}` } : {}) };
}

async function answer<T>(what: string, status: number, text: string): Promise<T> {
  let json: { data?: T; message?: string; field?: string; errors?: { message?: string; extensions?: { type?: string } }[] } | undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (status < 200 || status >= 300 || !json || json.data === undefined) {
    const message = json?.message ?? json?.errors?.[0]?.message ?? (text.slice(0, 200) || 'no body');
    throw new FilesApiError(status, `${what} failed: ${status} ${message}`, json ?? text, json?.field, json?.errors?.[0]?.extensions?.type);
  }
  return json.data;
}

async function postJson<T>(what: string, path: string, body: unknown, options: ConnectionOptions): Promise<T> {
  const res = await fetch(`${serverUrl(options)}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(await headersFor(options)) },
    body: JSON.stringify(body),
    credentials: options.credentials ?? defaults.credentials,
    signal: options.signal ?? defaults.signal,
  });
  return answer<T>(what, res.status, await res.text());
}

// ——— upload ———

export interface Part {
  name: string;
  value: string | Blob;
  filename?: string;
}

export function toBlob(file: UploadableFile): { blob: Blob; filename: string } {
  if (file instanceof Blob) {
    const name = (file as Blob & { name?: string }).name;
    return { blob: file, filename: name || `${globalThis.crypto.randomUUID()}.bin` };
  }
  const bytes = file.buffer;
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return { blob: new Blob([copy], { type: file.type ?? 'application/octet-stream' }), filename: file.filename };
}

function partsOf(options: UploadOptions): Part[] {
  // `meta` (and `attach`) first: the server checks them before it stores a byte.
  const parts: Part[] = [{ name: 'meta', value: JSON.stringify(options.meta) }];
  if (options.attach) parts.push({ name: 'attach', value: JSON.stringify(options.attach) });
  for (const file of options.files) {
    const { blob, filename } = toBlob(file);
    parts.push({ name: 'file', value: blob, filename });
  }
  return parts;
}

export function formDataOf(parts: Part[]): FormData {
  const form = new FormData();
  for (const part of parts) {
    if (typeof part.value === 'string') form.append(part.name, part.value);
    else form.append(part.name, part.value, part.filename);
  }
  return form;
}

/**
 * Uploads files with their `meta` (and optional `attach`) to POST /api/files/upload. Each file streams; the answer
 * has one `{id, signature, originalFilename}` per file, in order, plus `publicSignature` when attached inline.
 */
export async function upload(options: UploadOptions): Promise<UploadResponse> {
  if (!options.files?.length) throw new Error('upload: pass at least one file');
  const url = `${serverUrl(options)}/api/files/upload`;
  const headers = await headersFor(options);
  const parts = partsOf(options);
  const g = globalThis as GlobalWithEnv;
  if (options.onProgress && g.XMLHttpRequest && g.window) {
    const { status, text } = await sendWithXhr(g.XMLHttpRequest, url, headers, formDataOf(parts), options);
    return answer<UploadResponse>('upload', status, text);
  }
  const init: RequestInit & { duplex?: 'half' } = {
    method: 'POST',
    headers,
    credentials: options.credentials ?? defaults.credentials,
    signal: options.signal ?? defaults.signal,
  };
  if (options.onProgress) {
    const { body, contentType, total } = streamedMultipart(parts, options.onProgress);
    Object.assign(init, { body, duplex: 'half', headers: { ...headers, 'content-type': contentType } });
  } else {
    init.body = formDataOf(parts);
  }
  const res = await fetch(url, init);
  return answer<UploadResponse>('upload', res.status, await res.text());
}

/** Gives a file to another user and/or another app without copying bytes; answers a signature for that app. */
export function share(options: ShareOptions): Promise<ShareResponse> {
  return postJson<ShareResponse>('share', '/api/files/share', options.payload, options);
}

/** Attaches an uploaded (or shared) file to a record, given its signature; answers the public signature. */
export function attach(options: AttachOptions): Promise<AttachResponse> {
  return postJson<AttachResponse>('attach', '/api/files/attach', options.payload, options);
}

// ——— progress ———

interface XhrLike {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: unknown): void;
  abort(): void;
  withCredentials: boolean;
  status: number;
  responseText: string;
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
}

function sendWithXhr(
  Xhr: new () => XhrLike,
  url: string,
  headers: Record<string, string>,
  form: FormData,
  options: UploadOptions,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new Xhr();
    xhr.open('POST', url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.withCredentials = (options.credentials ?? defaults.credentials) === 'include';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) options.onProgress!(progress(e.loaded, e.total));
    };
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => reject(new Error('upload failed: network error'));
    xhr.onabort = () => reject(new Error('upload aborted'));
    const signal = options.signal ?? defaults.signal;
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

function progress(loaded: number, total: number): UploadProgress {
  return { loaded, total, percent: total > 0 ? Math.min(100, Math.round((loaded / total) * 100)) : 100 };
}

// Quotes a form-data parameter the way browsers do (WHATWG HTML: " → %22, CR/LF → %0D/%0A).
function quoteParam(value: string): string {
  return value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/**
 * The multipart body as a stream of its parts, counting bytes as fetch pulls them (Node has no XMLHttpRequest;
 * fetch pulls only as fast as the socket takes, so the count follows what was sent). Files are read chunk by chunk.
 */
export function streamedMultipart(parts: Part[], onProgress: (p: UploadProgress) => void): { body: ReadableStream<Uint8Array>; contentType: string; total: number } {
  const boundary = `----filehub${globalThis.crypto.randomUUID().replace(/-/g, '')}`;
  const encoder = new TextEncoder();
  const pieces: (Uint8Array | Blob)[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${quoteParam(part.name)}"${part.filename !== undefined ? `; filename="${quoteParam(part.filename)}"` : ''}`;
    if (typeof part.value === 'string') {
      pieces.push(encoder.encode(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n\r\n${part.value}\r\n`));
    } else {
      const type = part.value.type || 'application/octet-stream';
      pieces.push(encoder.encode(`--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: ${type}\r\n\r\n`), part.value, encoder.encode('\r\n'));
    }
  }
  pieces.push(encoder.encode(`--${boundary}--\r\n`));
  const total = pieces.reduce((n, p) => n + (p instanceof Blob ? p.size : p.byteLength), 0);
  let loaded = 0;
  let index = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (reader) {
          const { done, value } = await reader.read();
          if (!done) {
            loaded += value.byteLength;
            controller.enqueue(value);
            onProgress(progress(loaded, total));
            return;
          }
          reader = undefined;
        }
        const piece = pieces[index++];
        if (piece === undefined) {
          controller.close();
          return;
        }
        if (piece instanceof Blob) {
          reader = piece.stream().getReader();
          continue;
        }
        loaded += piece.byteLength;
        controller.enqueue(piece);
        onProgress(progress(loaded, total));
        return;
      }
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  });
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, total };
}
