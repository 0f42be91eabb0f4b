import { FilesApiError, formDataOf, headersFor, serverUrl, streamedMultipart, toBlob, type Part } from './client';
import type { ConnectionOptions, UploadableFile, UploadProgress } from './types';

/** A file as filehub's own REST surface (`/files`) answers it. */
export interface FileRecord {
  id: string;
  name: string;
  status: 'UPLOADING' | 'PROCESSING' | 'READY' | 'FAILED' | 'QUARANTINED';
  failureReason: string | null;
  contentType: string;
  size: number | null;
  sha256: string | null;
  visibility: 'private' | 'public';
  category: string | null;
  ownerId: string;
  organizationId: string | null;
  pageCount: number | null;
  width: number | null;
  height: number | null;
  createdAt: string;
  updatedAt: string;
  tags?: string[];
  associations?: { id: string; entityName: string; entityReference: string }[];
  thumbnails?: { variant: string; width: number; height: number; contentType: string }[];
  versions?: { version: number; name: string; size: number | null; sha256: string | null; contentType: string | null; createdAt: string }[];
}

/** One category of `POST /admin/reconcile`'s report. */
export interface ReconcileFinding {
  count: number;
  repaired: number;
  /** Candidates younger than the service's minimum age: maybe still in flight, left alone. */
  deferred: number;
  /** Storage keys (objects, incomplete uploads) or file ids (records). */
  sample: string[];
  deferredSample: string[];
}

/** What `POST /admin/reconcile` answers: storage compared with the records. */
export interface ReconcileReport {
  repair: boolean;
  complete: boolean;
  startedAt: string;
  finishedAt: string;
  examined: { objects: number; incompleteUploads: number };
  findings: Record<'orphanObjects' | 'orphanDerived' | 'missingObjects' | 'missingDerived' | 'staleUploads' | 'incompleteUploads', ReconcileFinding>;
  total: number;
}

export interface FileListFilters {
  status?: FileRecord['status'];
  type?: string;
  tag?: string;
  entityName?: string;
  entityReference?: string;
  q?: string;
  page?: number;
  limit?: number;
}

/**
 * A client of filehub's own REST surface (`/files`), for scripts and the CLI: upload with progress (streamed: a
 * file-backed Blob from `fs.openAsBlob` is read as it is sent), list, get, update, delete, download URLs, and
 * public share links.
 */
export class FilehubClient {
  constructor(private readonly connection: ConnectionOptions = {}) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { ...(await headersFor(this.connection)) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${serverUrl(this.connection)}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: this.connection.signal,
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const error = json as { message?: string; field?: string } | undefined;
      throw new FilesApiError(res.status, `${method} ${path} failed: ${res.status} ${error?.message ?? text.slice(0, 200)}`, json ?? text, error?.field);
    }
    return json as T;
  }

  /** POST /files: one file, streamed, with progress; `visibility` and `category` as the form fields. */
  async upload(file: UploadableFile, options: { filename?: string; visibility?: 'private' | 'public'; category?: string; onProgress?: (p: UploadProgress) => void; signal?: AbortSignal } = {}): Promise<FileRecord> {
    const { blob, filename } = toBlob(file);
    const parts: Part[] = [];
    if (options.visibility) parts.push({ name: 'visibility', value: options.visibility });
    if (options.category) parts.push({ name: 'category', value: options.category });
    parts.push({ name: 'file', value: blob, filename: options.filename ?? filename });
    const headers = await headersFor(this.connection);
    const init: RequestInit & { duplex?: 'half' } = { method: 'POST', headers, signal: options.signal ?? this.connection.signal };
    if (options.onProgress) {
      const { body, contentType } = streamedMultipart(parts, options.onProgress);
      Object.assign(init, { body, duplex: 'half', headers: { ...headers, 'content-type': contentType } });
    } else {
      init.body = formDataOf(parts);
    }
    const res = await fetch(`${serverUrl(this.connection)}/files`, init);
    const text = await res.text();
    const json = text ? (JSON.parse(text) as FileRecord & { message?: string; field?: string }) : undefined;
    if (res.status !== 201 || !json) throw new FilesApiError(res.status, `upload failed: ${res.status} ${json?.message ?? text.slice(0, 200)}`, json ?? text, json?.field);
    return json;
  }

  list(filters: FileListFilters = {}): Promise<{ data: FileRecord[]; total: number; page: number; limit: number }> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v !== undefined && v !== '') params.set(k, String(v));
    return this.request('GET', `/files${params.size ? `?${params}` : ''}`);
  }

  get(id: string): Promise<FileRecord> {
    return this.request('GET', `/files/${encodeURIComponent(id)}`);
  }

  update(id: string, changes: { name?: string; visibility?: 'private' | 'public'; tags?: string[] }): Promise<FileRecord> {
    return this.request('PATCH', `/files/${encodeURIComponent(id)}`, changes);
  }

  async remove(id: string): Promise<void> {
    await this.request('DELETE', `/files/${encodeURIComponent(id)}`);
  }

  downloadUrl(id: string, disposition: 'inline' | 'attachment' = 'attachment'): Promise<{ url: string; expiresAt: string }> {
    return this.request('GET', `/files/${encodeURIComponent(id)}/download-url?disposition=${disposition}`);
  }

  /** Admin: compares storage with the records; `repair` fixes what it finds (otherwise a dry run). */
  reconcile(options: { repair?: boolean } = {}): Promise<ReconcileReport> {
    return this.request('POST', '/admin/reconcile', { repair: options.repair ?? false });
  }

  /** A public link (no credentials needed to follow it) until revoked. */
  shareLink(id: string): Promise<string> {
    return this.request('POST', `/v1/files/${encodeURIComponent(id)}/public/links`);
  }
}
