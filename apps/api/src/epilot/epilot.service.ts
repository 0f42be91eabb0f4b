import { createHash, createHmac, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { GrantPermission, Prisma } from '@app/database';
import { AppError, Errors } from '@app/errors';
import {
  baseName,
  checkSourceUrl,
  contentDisposition,
  FilePreviewsService,
  FilesService,
  FileUploadService,
  isActiveContent,
  quarantinedKeyRefusal,
  SourceUrlError,
  tenantIdOf,
  type FileRow,
  type PreviewRequest,
  type RenderedPreview,
} from '@app/files';
import { addOutboxJob, OutboxRelay } from '@app/queue';
import { RateLimitService } from '@app/rate-limit';
import { sameSecret } from '@app/signatures';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { EpilotRepository } from './epilot.repository';
import type { BatchVersionBody, SaveFileBody, UploadFileBody } from './epilot.dto';
import { epilotMeta, FILE_TYPES, fileTypeOf, toFileEntity, type EpilotFile, type EpilotMeta, type FileEntityView, type S3Ref } from './epilot.view';

// The keys of a save payload that map to our columns; anything else is kept under `__additional`.
const KNOWN_KEYS = new Set([
  '_id',
  'file_entity_id',
  'relations',
  '_tags',
  '_purpose',
  '_manifest',
  'filename',
  'type',
  'mime_type',
  'size_bytes',
  'readable_size',
  'access_control',
  'public_url',
  'custom_download_url',
  's3ref',
  'source_url',
  '_acl',
  '_owners',
  '_title',
  '_schema',
  '_org',
  'versions',
  '_created_at',
  '_updated_at',
  '__additional',
]);

export interface SaveOptions {
  versionOnly: boolean;
  deleteTempFile: boolean;
}

export interface PreviewQuery {
  version?: number;
  w?: number;
  h?: number;
}

/**
 * The epilot File API (seed 004) over the one file domain: temporary uploads that become file entities, versions,
 * downloads and previews by entity or by s3ref, public links, custom download URLs and uploads without credentials.
 */
@Injectable()
export class EpilotService {
  constructor(
    private readonly repo: EpilotRepository,
    private readonly uploads: FileUploadService,
    private readonly files: FilesService,
    private readonly previews: FilePreviewsService,
    private readonly relay: OutboxRelay,
    private readonly limits: RateLimitService,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  get bucket(): string {
    return this.config.storage.driver === 's3' ? this.config.storage.bucket : 'filehub-local';
  }

  view(file: EpilotFile): FileEntityView {
    return toFileEntity(file, {
      bucket: this.bucket,
      publicUrl: (id) => this.files.publicUrl({ id }),
      signCustomUrl: (url, id) => this.signCustomUrl(url, id),
    });
  }

  // ——— temporary uploads ———

  /**
   * A temporary record and a signed URL on this API to PUT its bytes to (not a storage URL: the epilot client sends
   * its bearer token on that PUT, which S3 would refuse next to a pre-signature). Unsaved after
   * TEMP_UPLOAD_TTL_SECONDS, the lifecycle sweep removes it.
   */
  async uploadTemporary(principal: Principal, body: UploadFileBody, options: { fileEntityId?: string; quarantined?: boolean } = {}) {
    if (options.fileEntityId && !(await this.repo.findWritable(principal, options.fileEntityId))) {
      throw Errors.notFound('File entity', options.fileEntityId);
    }
    const ttl = this.config.epilot.tempUploadTtlSeconds;
    const { file } = await this.uploads.createIntent(principal, {
      filename: safeName(body.filename),
      contentType: body.mime_type ?? 'application/octet-stream',
      temporaryUntil: new Date(Date.now() + ttl * 1000),
      quarantined: options.quarantined,
      metadata: {
        epilot: { temporary: true } satisfies EpilotMeta,
        ...(body.metadata ? { custom: body.metadata } : {}),
        ...(body.index_tag ? { indexTag: body.index_tag } : {}),
      },
    });
    return {
      s3ref: { bucket: this.bucket, key: file.storageKey },
      upload_url: this.uploadTargetUrl(file.id, ttl),
      ...(options.fileEntityId ? { public_url: this.files.publicUrl({ id: options.fileEntityId }) } : {}),
    };
  }

  /** Uploads without credentials: rate-limited per IP, size-limited, quarantined in the named organization. */
  async uploadPublic(orgId: string | undefined, ip: string | undefined, body: UploadFileBody) {
    if (!orgId || !/^[A-Za-z0-9._:-]{1,200}$/.test(orgId)) {
      throw Errors.badRequest('org_id: name the organization the upload is for (query parameter org_id)', { field: 'org_id' });
    }
    await this.limits.consume({ publicUpload: ip ?? 'unknown' });
    const uploader: Principal = { userId: `public:${createHash('sha256').update(ip ?? '').digest('hex').slice(0, 16)}`, orgId, role: 'user' };
    const { s3ref, upload_url } = await this.uploadTemporary(uploader, body, { quarantined: true });
    return { s3ref, upload_url };
  }

  uploadTargetUrl(fileId: string, ttlSeconds: number): string {
    const expires = Math.floor(Date.now() / 1000) + ttlSeconds;
    return `${this.config.http.publicUrl}/v1/files/upload-target/${fileId}?expires=${expires}&signature=${this.targetSignature(fileId, expires)}`;
  }

  private targetSignature(fileId: string, expires: number): string {
    return createHmac('sha256', `epilot-upload-target:${this.config.storage.signingSecret}`).update(`${fileId}:${expires}`).digest('base64url');
  }

  /** PUT to an upload URL: the signature is the credential; any Authorization header is ignored. */
  async receiveUpload(fileId: string, expires: string | undefined, signature: string | undefined, body: Readable, contentType: string | undefined) {
    const exp = Number(expires);
    const expected = Number.isInteger(exp) ? this.targetSignature(fileId, exp) : '';
    if (!signature || !sameSecret(signature, expected)) throw Errors.signatureInvalid('The upload URL is not valid');
    if (exp * 1000 < Date.now()) throw Errors.signatureExpired('The upload URL has expired; ask for a new one');
    const file = await this.repo.findUploadTarget(fileId);
    if (!file) throw Errors.notFound('Upload', fileId);
    await this.uploads.receive(file, body, { contentType, maxBytes: file.quarantined ? this.config.epilot.publicUploadMaxBytes : undefined });
  }

  // ——— saving ———

  async save(principal: Principal, body: SaveFileBody | BatchVersionBody[], options: SaveOptions): Promise<FileEntityView> {
    if (Array.isArray(body)) return this.saveBatch(principal, body, options);
    const id = body._id || body.file_entity_id || undefined;
    const sources = [body.s3ref ? 's3ref' : null, body.source_url ? 'source_url' : null].filter(Boolean);
    if (sources.length > 1) throw Errors.badRequest('Give one of s3ref and source_url, not both');
    if (id) {
      const file = await this.repo.findWritable(principal, id);
      if (!file) {
        if (await this.repo.findReadable(principal, id)) throw Errors.forbidden(`You may not change file ${id}`);
        throw Errors.notFound('File entity', id);
      }
      if (body.source_url) throw Errors.badRequest('source_url makes a new file entity; to add a version, upload the bytes and save their s3ref with _id');
      if (body.s3ref) await this.addVersion(principal, file, body.s3ref, body, options);
      if (!(body.s3ref && options.versionOnly)) await this.updateAttributes(principal, file, body);
      return this.view(await this.repo.reload(id));
    }
    if (body.s3ref) return this.view(await this.saveFromTemporary(principal, body.s3ref, body));
    if (body.source_url) return this.view(await this.saveFromSourceUrl(principal, body));
    if (body.custom_download_url) return this.view(await this.saveCustom(principal, body));
    throw Errors.badRequest('A new file entity needs s3ref (from uploadFileV2), source_url or custom_download_url');
  }

  private async saveBatch(principal: Principal, items: BatchVersionBody[], options: SaveOptions): Promise<FileEntityView> {
    if (!options.versionOnly) throw Errors.badRequest('A batch of versions needs version_only=true');
    const ids = new Set(items.map((i) => i._id || i.file_entity_id));
    const [id] = [...ids];
    if (ids.size !== 1 || !id) throw Errors.badRequest('Every version of a batch must name the same file entity (_id)');
    const file = await this.repo.findWritable(principal, id);
    if (!file) throw Errors.notFound('File entity', id);
    for (const item of items) await this.addVersion(principal, await this.repo.reload(id), item.s3ref, item, options);
    return this.view(await this.repo.reload(id));
  }

  private async temporary(principal: Principal, s3ref: S3Ref): Promise<EpilotFile> {
    if (s3ref.bucket !== this.bucket) throw Errors.notFound('s3ref bucket', s3ref.bucket);
    const temp = await this.repo.findTemporaryByKey(principal, s3ref.key);
    if (!temp || !epilotMeta(temp).temporary) throw Errors.notFound('Temporary upload', s3ref.key);
    if (temp.status === 'UPLOADING') throw Errors.badRequest(`Nothing has been uploaded to s3ref ${s3ref.key} yet: PUT the bytes to its upload_url first`);
    if (temp.status === 'FAILED') throw Errors.badRequest(`The upload to s3ref ${s3ref.key} failed: ${temp.failureReason ?? 'unknown reason'}`);
    if (temp.status === 'QUARANTINED') this.files.assertServable(temp);
    return temp;
  }

  private async saveFromTemporary(principal: Principal, s3ref: S3Ref, body: SaveFileBody): Promise<EpilotFile> {
    const temp = await this.temporary(principal, s3ref);
    await this.repo.transaction(async (tx) => {
      await tx.file.update({
        where: { id: temp.id },
        data: {
          ...this.attributes(body, temp),
          ownerId: temp.quarantined ? principal.userId : temp.ownerId,
          temporaryUntil: null,
          quarantined: false,
          metadata: { ...(temp.metadata as object), epilot: this.meta(body, epilotMeta(temp), false) } as unknown as Prisma.InputJsonValue,
        },
      });
      await this.applyRelationsAndAcl(tx, temp, body, principal);
    });
    return this.repo.reload(temp.id);
  }

  /**
   * A new version of `file` from a temporary upload: the upload's object becomes the file's current bytes (no copy),
   * the version list grows, and the post-upload job runs again for the new bytes.
   */
  private async addVersion(principal: Principal, file: EpilotFile, s3ref: S3Ref, body: { filename?: string; mime_type?: string }, options: SaveOptions): Promise<void> {
    // An infected entity is not cleaned by new bytes on top: its versions stay listed. Delete it instead.
    if (file.status === 'QUARANTINED') {
      throw new AppError('CONFLICT', `File ${file.id} is quarantined (infected with ${file.virusSignature ?? 'malware'}) and takes no new versions; delete it`);
    }
    const temp = await this.temporary(principal, s3ref);
    const next = Math.max(0, ...file.versions.map((v) => v.version)) + 1;
    const filename = safeName(body.filename ?? temp.originalFilename);
    await this.repo.transaction(async (tx) => {
      await tx.fileVersion.create({
        data: {
          fileId: file.id,
          version: next,
          storageKey: temp.storageKey,
          originalFilename: filename,
          mime: temp.sniffedMime ?? body.mime_type ?? temp.declaredMime,
          size: temp.size,
          sha256: temp.sha256,
          createdBy: principal.userId,
        },
      });
      await tx.file.update({
        where: { id: file.id },
        data: {
          storageKey: temp.storageKey,
          size: temp.size,
          sha256: temp.sha256,
          sniffedMime: temp.sniffedMime,
          declaredMime: body.mime_type ?? temp.declaredMime,
          currentVersion: next,
          status: 'PROCESSING',
          failureReason: null,
          pageCount: null,
          width: null,
          height: null,
          ...(options.versionOnly ? {} : { originalFilename: filename }),
        },
      });
      // The old version's thumbnails no longer describe the current bytes; the job makes the new ones.
      await tx.thumbnail.deleteMany({ where: { fileId: file.id, variant: { startsWith: 'thumb-' } } });
      await addOutboxJob(tx, 'file.process', { fileId: file.id, tenantId: tenantIdOf(file) });
      // The temporary record's object now belongs to the version. delete_temp_file=false keeps the record (and its
      // s3ref) until its week is over; the object stays while any record points at it.
      if (options.deleteTempFile) await tx.file.delete({ where: { id: temp.id } });
    });
    this.relay.kick();
  }

  private async updateAttributes(principal: Principal, file: EpilotFile, body: SaveFileBody): Promise<void> {
    await this.repo.transaction(async (tx) => {
      await tx.file.update({
        where: { id: file.id },
        data: { ...this.attributes(body, file), metadata: { ...(file.metadata as object), epilot: this.meta(body, epilotMeta(file), false) } as unknown as Prisma.InputJsonValue },
      });
      await this.applyRelationsAndAcl(tx, file, body, principal);
    });
  }

  private async saveFromSourceUrl(principal: Principal, body: SaveFileBody): Promise<EpilotFile> {
    let url: URL;
    try {
      url = checkSourceUrl(body.source_url!, this.config.sourceUrl.allowList);
    } catch (error) {
      if (error instanceof SourceUrlError) throw Errors.badRequest(`source_url: ${error.message}`, { field: 'source_url' });
      throw error;
    }
    const fromPath = decodeURIComponent(url.pathname.split('/').filter(Boolean).pop() ?? '') || 'download';
    const { file } = await this.uploads.createIntent(principal, {
      filename: safeName(body.filename ?? fromPath),
      contentType: body.mime_type,
      visibility: body.access_control === 'public-read' ? 'PUBLIC' : 'PRIVATE',
      metadata: { epilot: this.meta(body, { sourceUrl: url.toString() }, false) },
    });
    await this.repo.transaction(async (tx) => {
      await tx.file.update({ where: { id: file.id }, data: { tags: body._tags ?? [], purposes: body._purpose ?? [] } });
      await this.applyRelationsAndAcl(tx, file, body, principal);
      await addOutboxJob(tx, 'file.import-url', { fileId: file.id, tenantId: tenantIdOf(file), url: url.toString() });
    });
    this.relay.kick();
    return this.repo.reload(file.id);
  }

  /** A file entity whose bytes live elsewhere: only its custom download URL is served. */
  private async saveCustom(principal: Principal, body: SaveFileBody): Promise<EpilotFile> {
    const url = body.custom_download_url!;
    if (!/^https?:\/\//i.test(url)) throw Errors.badRequest('custom_download_url must be an http or https URL', { field: 'custom_download_url' });
    const { file } = await this.uploads.createIntent(principal, {
      filename: safeName(body.filename ?? 'download'),
      contentType: body.mime_type,
      visibility: body.access_control === 'public-read' ? 'PUBLIC' : 'PRIVATE',
      metadata: { epilot: this.meta(body, {}, false) },
    });
    await this.repo.transaction(async (tx) => {
      // No bytes of ours to process: the entity is complete as it is.
      await tx.file.update({ where: { id: file.id }, data: { status: 'READY', tags: body._tags ?? [], purposes: body._purpose ?? [] } });
      await this.applyRelationsAndAcl(tx, file, body, principal);
    });
    return this.repo.reload(file.id);
  }

  private attributes(body: SaveFileBody, current: FileRow | EpilotFile): Prisma.FileUncheckedUpdateInput {
    return {
      ...(body.filename ? { originalFilename: safeName(body.filename) } : {}),
      ...(body.access_control ? { visibility: body.access_control === 'public-read' ? 'PUBLIC' : 'PRIVATE' } : {}),
      ...(body._tags ? { tags: body._tags } : {}),
      ...(body._purpose ? { purposes: body._purpose } : {}),
      ...(body.mime_type && !current.sniffedMime ? { declaredMime: body.mime_type } : {}),
    };
  }

  private meta(body: SaveFileBody, current: EpilotMeta, temporary: boolean): EpilotMeta {
    const additional = Object.fromEntries(Object.entries(body).filter(([k]) => !KNOWN_KEYS.has(k)));
    const type = body.type && FILE_TYPES.includes(body.type) ? body.type : current.type;
    return {
      ...current,
      temporary,
      ...(type ? { type } : {}),
      ...(body._manifest ? { manifest: body._manifest } : {}),
      ...(body.custom_download_url ? { customDownloadUrl: body.custom_download_url } : {}),
      ...(Object.keys(additional).length ? { additional: { ...current.additional, ...additional } } : {}),
    };
  }

  private async applyRelationsAndAcl(tx: Prisma.TransactionClient, file: { id: string; organizationId: string | null }, body: SaveFileBody, principal: Principal) {
    if (body.relations?.length) {
      await this.repo.addRelations(
        tx,
        file,
        body.relations.map((r) => ({ entityName: r._schema ?? 'entity', entityReference: r.entity_id, tags: r._tags ?? [] })),
        principal.userId,
      );
    }
    if (body._acl) await this.repo.replaceGrants(tx, file.id, parseAcl(body._acl));
  }

  // ——— reading ———

  async get(principal: Principal, id: string, withSourceUrl: boolean): Promise<FileEntityView> {
    const file = await this.readable(principal, id);
    const view = this.view(file);
    if (withSourceUrl && !view.source_url && view.s3ref && this.files.servable(file)) view.source_url = (await this.files.signedUrlFor(file, 'attachment')).url;
    return view;
  }

  async delete(principal: Principal, id: string, purge: boolean): Promise<FileEntityView> {
    const file = await this.repo.findWritable(principal, id, 'DELETE');
    if (!file) {
      if (await this.repo.findReadable(principal, id)) throw Errors.forbidden(`You may not delete file ${id}`);
      throw Errors.notFound('File entity', id);
    }
    const view = this.view(file);
    if (purge) await this.files.purge(principal, id);
    else await this.files.softDelete(principal, id);
    return view;
  }

  private async readable(principal: Principal, id: string): Promise<EpilotFile> {
    const file = await this.repo.findReadable(principal, id);
    if (!file) throw Errors.notFound('File entity', id);
    return file;
  }

  /** `version` counts back from the newest (0: the current bytes), as the versions list is ordered. */
  private versionKey(file: EpilotFile, version = 0): { key: string; filename: string; mime: string | null } {
    const versions = [...file.versions].sort((a, b) => b.version - a.version);
    if (!Number.isInteger(version) || version < 0) throw Errors.badRequest('version must be a whole number from 0 (the newest)', { field: 'version' });
    const chosen = versions[version];
    if (!chosen) throw Errors.notFound(`Version ${version} of file`, file.id);
    const refusal = quarantinedKeyRefusal(`Version ${version} of file ${file.id}`, file.status, chosen.storageKey);
    if (refusal) throw refusal;
    return { key: chosen.storageKey, filename: chosen.originalFilename, mime: chosen.mime };
  }

  async downloadUrl(principal: Principal, id: string, version: number | undefined, attachment: boolean): Promise<{ download_url: string }> {
    const file = await this.readable(principal, id);
    const custom = epilotMeta(file).customDownloadUrl;
    if (custom && file.versions.length === 0) return { download_url: this.signCustomUrl(custom, file.id) };
    this.files.assertServable(file);
    const { key, filename, mime } = this.versionKey(file, version);
    return { download_url: await this.presign(key, filename, mime, attachment) };
  }

  async downloadByKey(principal: Principal, key: string, bucket: string, attachment: boolean): Promise<{ download_url: string }> {
    const { file, version, servedKey } = await this.byKey(principal, { key, bucket });
    this.files.assertServable(file);
    return { download_url: await this.presign(servedKey, version?.originalFilename ?? file.originalFilename, version?.mime ?? file.sniffedMime, attachment) };
  }

  async downloadMany(principal: Principal, items: { id: string; version?: number }[]) {
    return Promise.all(
      items.map(async (item) => {
        try {
          return { file_entity_id: item.id, ...(await this.downloadUrl(principal, item.id, item.version ?? 0, true)) };
        } catch (error) {
          if (error instanceof AppError) return { file_entity_id: item.id, error: error.message, status: error.status };
          throw error;
        }
      }),
    );
  }

  private async byKey(principal: Principal, ref: S3Ref) {
    if (ref.bucket !== this.bucket) throw Errors.notFound('s3ref bucket', ref.bucket);
    const file = await this.repo.findReadableByKey(principal, ref.key);
    if (!file) throw Errors.notFound('Object', ref.key);
    const version = file.versions.find((v) => v.storageKey === ref.key);
    // The s3ref of an upload (its staging key) names the bytes the file serves now; the staging key itself never is.
    const servedKey = version || file.storageKey === ref.key ? ref.key : file.storageKey;
    const refusal = quarantinedKeyRefusal(`Object ${ref.key}`, file.status, servedKey);
    if (refusal) throw refusal;
    return { file, version, servedKey };
  }

  private async presign(key: string, filename: string, mime: string | null, attachment: boolean): Promise<string> {
    const type = mime && !isActiveContent(mime) ? mime : 'application/octet-stream';
    return this.storage.presignGet(key, {
      expiresInSeconds: this.config.uploads.signedUrlTtlSeconds,
      contentType: type,
      contentDisposition: contentDisposition(filename, attachment || isActiveContent(mime ?? '') ? 'attachment' : 'inline'),
    });
  }

  // ——— previews ———

  async preview(principal: Principal, id: string, query: PreviewQuery): Promise<RenderedPreview> {
    const file = await this.readable(principal, id);
    const { key, mime } = this.versionKey(file, query.version);
    return this.previews.render(file, key, previewRequest(query, mime), mime);
  }

  async previewByKey(principal: Principal, ref: S3Ref, query: PreviewQuery): Promise<RenderedPreview> {
    const { file, version, servedKey } = await this.byKey(principal, ref);
    const mime = version?.mime ?? file.sniffedMime;
    return this.previews.render(file, servedKey, previewRequest(query, mime), mime);
  }

  async previewPublic(id: string, query: PreviewQuery & { orgId?: string }): Promise<RenderedPreview> {
    const file = await this.repo.findPublic(id);
    if (!file || (query.orgId && file.organizationId !== query.orgId)) throw Errors.notFound('File entity', id);
    if (file.visibility !== 'PUBLIC') throw Errors.forbidden('File is not publicly accessible');
    const { key, mime } = this.versionKey(file, query.version);
    return this.previews.render(file, key, previewRequest(query, mime), mime);
  }

  // ——— public links ———

  private linkUrl(linkId: string, filename: string): string {
    return `${this.config.http.publicUrl}/v1/files/public/links/${linkId}/${encodeURIComponent(filename)}`;
  }

  async generateLink(principal: Principal, fileId: string): Promise<string> {
    const file = await this.repo.findWritable(principal, fileId);
    if (!file) {
      if (await this.repo.findReadable(principal, fileId)) throw Errors.forbidden(`You may not share file ${fileId}`);
      throw Errors.notFound('File entity', fileId);
    }
    if (file.versions.length === 0) throw new AppError('CONFLICT', `File ${fileId} has no bytes to share yet`);
    // The link id is 122 random bits; it is the credential, so only its hash is indexed.
    const id = randomUUID();
    await this.repo.createLink({ id, fileId, tokenHash: createHash('sha256').update(id).digest('hex'), createdBy: principal.userId });
    return this.linkUrl(id, file.originalFilename);
  }

  async listLinks(principal: Principal, fileId: string) {
    const file = await this.readable(principal, fileId);
    const links = await this.repo.activeLinks(file.id);
    return {
      results: links.map((l) => ({
        id: l.id,
        link: this.linkUrl(l.id, file.originalFilename),
        ...(l.lastAccessedAt ? { last_accessed_at: l.lastAccessedAt.toISOString() } : {}),
      })),
    };
  }

  /** Where a public link sends its visitor: a short-lived URL of the file's current bytes. */
  async accessLink(linkId: string, hash: string | undefined): Promise<string> {
    const { key, filename, mime } = await this.followLink(linkId, hash);
    return this.presign(key, filename, mime, false);
  }

  /** A public link followed with transform parameters: the image transformed, served by the link itself. */
  async transformLink(linkId: string, hash: string | undefined, request: PreviewRequest, accept: string | undefined): Promise<RenderedPreview> {
    const { file, key, mime } = await this.followLink(linkId, hash);
    return this.previews.render(file, key, request, mime, accept);
  }

  private async followLink(linkId: string, hash: string | undefined) {
    const link = await this.repo.findActiveLink(linkId);
    if (!link) throw Errors.notFound('Public link');
    const file = link.file;
    // `hash`, when given, pins the content: a link opened with the hash of other bytes finds nothing.
    if (hash !== undefined && !(file.sha256 && hash.length >= 8 && file.sha256.startsWith(hash.toLowerCase()))) throw Errors.notFound('Public link');
    this.files.assertServable(file);
    const current = this.versionKey(file, 0);
    await this.repo.recordAccess(link.id);
    return { file, ...current };
  }

  async revokeLink(principal: Principal, linkId: string): Promise<void> {
    const link = await this.repo.findLink(linkId);
    if (!link || !(await this.repo.findWritable(principal, link.fileId))) throw Errors.notFound('Public link');
    await this.repo.revokeLink(link.id);
  }

  // ——— custom download URLs ———

  /** The custom URL with `file_id`, `expires_at` (ms) and an HMAC `signature` appended, for the external server to verify. */
  signCustomUrl(url: string, fileId: string): string {
    const expiresAt = Date.now() + this.config.uploads.signedUrlTtlSeconds * 1000;
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return url;
    }
    for (const p of ['file_id', 'expires_at', 'signature']) target.searchParams.delete(p);
    target.searchParams.set('file_id', fileId);
    target.searchParams.set('expires_at', String(expiresAt));
    target.searchParams.set('signature', this.customSignature(fileId, expiresAt));
    return target.toString();
  }

  private customSignature(fileId: string, expiresAt: number): string {
    return createHmac('sha256', this.config.epilot.customUrlSecret).update(`${fileId}:${expiresAt}`).digest('hex');
  }

  verifyCustomUrl(raw: string): { valid: boolean } {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return { valid: false };
    }
    const fileId = url.searchParams.get('file_id');
    const expiresAt = Number(url.searchParams.get('expires_at'));
    const signature = url.searchParams.get('signature');
    if (!fileId || !signature || !Number.isFinite(expiresAt)) return { valid: false };
    const expected = this.customSignature(fileId, expiresAt);
    return { valid: sameSecret(signature, expected) && expiresAt > Date.now() };
  }
}


// epilot keeps the base name and drops control characters rather than refusing the name.
function safeName(name: string): string {
  return baseName(name.replace(/[\u0000-\u001f\u007f]/g, ''));
}

const ACL_ENTRY = /^(org|user):([A-Za-z0-9._@:-]{1,200})$/;

function parseAcl(acl: { view?: string[]; edit?: string[]; delete?: string[] }): { principalType: string; principalId: string; permission: GrantPermission }[] {
  const grants: { principalType: string; principalId: string; permission: GrantPermission }[] = [];
  for (const [list, permission] of [
    [acl.view, 'READ'],
    [acl.edit, 'WRITE'],
    [acl.delete, 'DELETE'],
  ] as const) {
    for (const entry of list ?? []) {
      const match = ACL_ENTRY.exec(entry);
      if (!match) throw Errors.badRequest(`_acl entries are 'org:<id>' or 'user:<id>', not '${entry}'`, { field: '_acl' });
      grants.push({ principalType: match[1]!, principalId: match[2]!, permission });
    }
  }
  return grants;
}

// epilot answers previews as PNG or JPEG: PNG keeps transparency, JPEG the rest. No size asked: 512 px wide.
function previewRequest(query: PreviewQuery, mime: string | null) {
  const format = /png|gif|webp|svg|avif|tiff/.test(mime ?? '') ? ('png' as const) : ('jpeg' as const);
  const width = query.w ?? (query.h === undefined ? 512 : undefined);
  return { width, height: query.h, format, fit: 'inside' as const };
}
