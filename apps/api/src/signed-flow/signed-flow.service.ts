import { extname } from 'node:path';
import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import type { JWTPayload } from 'jose';
import { isPrivileged, type Principal } from '@app/auth';
import { Errors } from '@app/errors';
import { baseName, emitFileEvent, FileSharesService, FilesRepository, FilesService, FileUploadService, type FileRow, type StagedUpload } from '@app/files';
import { RateLimitService } from '@app/rate-limit';
import { FileClientsService, FileSignaturesService } from '@app/signatures';
import { readMultipartFiles } from '../http/multipart';
import { parseOrThrow } from '../http/zod-validation.pipe';
import {
  attachPayloadSchema,
  inlineAttachSchema,
  sharePayloadSchema,
  uploadMetaSchema,
  type AttachPayload,
  type InlineAttach,
  type SharePayload,
  type UploadMeta,
} from './signed-flow.dto';

/** Files per upload request (Condo's server defaults to 2; apps batch more, each file still streams). */
export const MAX_FILES_PER_UPLOAD = 20;
/** `meta` and `attach` are small JSON documents. */
const MAX_FIELD_BYTES = 64 * 1024;

/** The part of a file's signed-flow metadata that its tokens carry (Condo's FILE_RECORD_USER_META). */
export interface SignedMeta {
  dv: 1;
  sender: { dv: 1; fingerprint: string };
  user: { id: string };
  fileClientId: string;
  modelNames: string[];
  sourceFileClientId: string | null;
}

export interface UploadedFileResult {
  id: string;
  signature: string;
  originalFilename: string;
  attached?: true;
  publicSignature?: string;
}

/** The signed REST flow (seed 000): upload, share, attach, and signed downloads. */
@Injectable()
export class SignedFlowService {
  constructor(
    private readonly uploads: FileUploadService,
    private readonly shares: FileSharesService,
    private readonly files: FilesService,
    private readonly repository: FilesRepository,
    private readonly clients: FileClientsService,
    private readonly signatures: FileSignaturesService,
    private readonly limits: RateLimitService,
  ) {}

  async upload(principal: Principal, req: Request): Promise<UploadedFileResult[]> {
    await this.limits.consume({ user: principal.userId, ip: req.ip });
    const staged: StagedUpload[] = [];
    let checked: { meta: UploadMeta; attach?: InlineAttach } | undefined;
    try {
      const { fields } = await readMultipartFiles(req, { maxFiles: MAX_FILES_PER_UPLOAD, maxFieldBytes: MAX_FIELD_BYTES }, async (file, signal) => {
        // When `meta` comes first (our SDK sends it first), a bad one is refused before any byte is stored.
        if (!checked && file.fields.meta !== undefined) checked = await this.checkUploadFields(principal, file.fields);
        const upload = await this.uploads.stage(principal, {
          stream: file.stream,
          // Only the last path segment of a client's filename is kept (Condo: path.basename).
          filename: baseName(file.filename),
          declaredMime: file.mimeType,
          encoding: file.encoding,
          signal,
        });
        staged.push(upload);
        return upload;
      });
      checked ??= await this.checkUploadFields(principal, fields);
      if (staged.length === 0) throw Errors.badRequest('Missing binary data in request: send at least one file part', { field: 'file' });
    } catch (error) {
      await this.uploads.discardStaged(staged);
      throw error;
    }
    const { meta, attach } = checked;
    const signedMeta: SignedMeta = { ...meta, sourceFileClientId: null };
    delete (signedMeta as Partial<UploadMeta>).organization;
    const owner: Principal = { userId: principal.userId, orgId: meta.organization?.id ?? principal.orgId, role: principal.role };
    const files = await this.uploads.commit(owner, staged, {
      fileClientId: meta.fileClientId,
      ownerId: meta.user.id,
      metadata: { signedFlow: signedMeta },
    });
    return Promise.all(
      files.map(async (file): Promise<UploadedFileResult> => {
        const signature = await this.signatures.sign(meta.fileClientId, uploadClaims(file, signedMeta));
        if (!attach) return { id: file.id, signature, originalFilename: file.originalFilename };
        await this.repository.upsertAssociation(file, attach.modelName, attach.itemId, principal.userId);
        await emitFileEvent(this.repository.client, 'file.attached', file, { entityName: attach.modelName, entityReference: attach.itemId });
        const publicSignature = await this.signatures.sign(meta.fileClientId, publicClaims(file, signedMeta));
        return { id: file.id, signature, originalFilename: file.originalFilename, attached: true, publicSignature };
      }),
    );
  }

  /** `meta` (and `attach`) of an upload, checked against the caller; throws a 400 naming the field. */
  private async checkUploadFields(principal: Principal, fields: Record<string, string>): Promise<{ meta: UploadMeta; attach?: InlineAttach }> {
    if (fields.meta === undefined) throw Errors.badRequest('Missing multipart field "meta"', { field: 'meta' });
    const meta = parseOrThrow(uploadMetaSchema, parseJsonField(fields.meta, 'meta'), 'meta', 'meta');
    const attach = fields.attach === undefined ? undefined : parseOrThrow(inlineAttachSchema, parseJsonField(fields.attach, 'attach'), 'attach', 'attach');
    if (meta.organization && meta.organization.id !== principal.orgId) {
      throw Errors.badRequest(
        principal.orgId
          ? `meta.organization.id must be the caller's organization ('${principal.orgId}')`
          : 'meta.organization.id names an organization, but the bearer token has none',
        { field: 'meta.organization.id' },
      );
    }
    if (meta.user.id !== principal.userId && !(isPrivileged(principal) && principal.orgId)) {
      throw Errors.badRequest(`meta.user.id must be the caller ('${principal.userId}'); only a service token may upload for another user of its organization`, {
        field: 'meta.user.id',
      });
    }
    await this.requireClient(meta.fileClientId, 'meta.fileClientId');
    if (attach && !meta.modelNames.includes(attach.modelName)) {
      throw Errors.badRequest(`attach.modelName '${attach.modelName}' is not among meta.modelNames (${meta.modelNames.join(', ')})`, { field: 'attach.modelName' });
    }
    await this.limits.consume({ client: meta.fileClientId });
    return { meta, attach };
  }

  async share(principal: Principal, body: unknown, ip: string | undefined): Promise<{ id: string; signature: string }> {
    await this.limits.consume({ user: principal.userId, ip });
    const payload: SharePayload = parseOrThrow(sharePayloadSchema, body, 'body');
    await this.requireClient(payload.fileClientId, 'fileClientId');
    await this.limits.consume({ client: payload.fileClientId });
    const source = await this.files.get(principal, payload.id);
    const modelNames = payload.modelNames ?? signedMetaOf(source)?.modelNames;
    if (!modelNames?.length) {
      throw Errors.badRequest('modelNames: required, since the shared file was not uploaded with any', { field: 'modelNames' });
    }
    const signedMeta: SignedMeta = {
      dv: 1,
      sender: payload.sender,
      user: payload.user,
      fileClientId: payload.fileClientId,
      modelNames,
      sourceFileClientId: source.sourceFileClientId ?? source.fileClientId,
    };
    const file = await this.shares.share(principal, source.id, {
      toUserId: payload.user.id,
      fileClientId: payload.fileClientId,
      metadata: { signedFlow: signedMeta },
    });
    return { id: file.id, signature: await this.signatures.sign(payload.fileClientId, uploadClaims(file, signedMeta)) };
  }

  async attach(principal: Principal, body: unknown, ip: string | undefined): Promise<{ id: string; signature: string; publicSignature: string; attached: true }> {
    await this.limits.consume({ user: principal.userId, ip });
    const payload: AttachPayload = parseOrThrow(attachPayloadSchema, body, 'body');
    await this.requireClient(payload.fileClientId, 'fileClientId');
    await this.limits.consume({ client: payload.fileClientId });
    const claims = await this.signatures.verify(payload.signature, payload.fileClientId);
    const claimed = claimedMeta(claims);
    if (claimed.fileClientId !== payload.fileClientId) {
      throw Errors.signatureInvalid(`The signature was issued for file client '${String(claimed.fileClientId)}', not '${payload.fileClientId}'`);
    }
    if (typeof claims.id !== 'string') throw Errors.signatureInvalid('The signature names no file');
    const file = await this.repository.findForSignature(claims.id);
    if (!file || file.fileClientId !== payload.fileClientId) throw Errors.notFound('File', claims.id);
    const mayAct =
      claimed.userId === principal.userId || (isPrivileged(principal) && principal.orgId !== null && principal.orgId === file.organizationId);
    if (!mayAct) throw Errors.forbidden('The signature was issued to another user; only that user (or a service token of the organization) may attach it');
    if (!claimed.modelNames.includes(payload.modelName)) {
      throw Errors.badRequest(`modelName '${payload.modelName}' is not among the signed modelNames (${claimed.modelNames.join(', ')})`, { field: 'modelName' });
    }
    // The same file on the same item twice is the same attachment.
    await this.repository.upsertAssociation(file, payload.modelName, payload.itemId, principal.userId);
    await emitFileEvent(this.repository.client, 'file.attached', file, { entityName: payload.modelName, entityReference: payload.itemId });
    const signedMeta = signedMetaOf(file) ?? fallbackMeta(file, claimed);
    const publicSignature = await this.signatures.sign(payload.fileClientId, publicClaims(file, signedMeta));
    return { id: file.id, signature: publicSignature, publicSignature, attached: true };
  }

  /** A file whose signature (from upload, share or attach) names this very file. */
  async fileForDownload(id: string, sign: string | undefined, ip: string | undefined): Promise<FileRow> {
    await this.limits.consume({ ip });
    if (!sign) throw Errors.forbidden('A signature is required: GET /api/files/<file_id>?sign=<signature>');
    const refused = Errors.signatureInvalid('The signature is not valid for this file');
    const file = await this.repository.findForSignature(id);
    // Unknown files answer like a bad signature, so ids cannot be probed.
    if (!file?.fileClientId) {
      this.signatures.peek(sign);
      throw refused;
    }
    const claims = await this.signatures.verify(sign, file.fileClientId);
    if (claims.id !== file.id) throw Errors.signatureInvalid('The signature was issued for another file');
    return file;
  }

  private async requireClient(fileClientId: string, field: string): Promise<void> {
    if (!(await this.clients.exists(fileClientId))) {
      throw Errors.badRequest(`${field}: unknown fileClientId '${fileClientId}'; it must be registered on the file server`, { field });
    }
  }
}

function parseJsonField(raw: string, field: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw Errors.badRequest(`${field}: must be a JSON object (the field is not valid JSON)`, { field });
  }
}


function signedMetaOf(file: FileRow): SignedMeta | undefined {
  const meta = (file.metadata as { signedFlow?: SignedMeta } | null)?.signedFlow;
  return meta && typeof meta === 'object' ? meta : undefined;
}

function claimedMeta(claims: JWTPayload): { fileClientId: unknown; userId: unknown; modelNames: string[] } {
  const nested = (claims.meta ?? {}) as Partial<SignedMeta>;
  const flat = claims as Partial<SignedMeta>;
  const modelNames = nested.modelNames ?? flat.modelNames;
  return {
    fileClientId: nested.fileClientId ?? flat.fileClientId,
    userId: nested.user?.id ?? flat.user?.id,
    modelNames: Array.isArray(modelNames) ? modelNames.filter((m): m is string => typeof m === 'string') : [],
  };
}

function fallbackMeta(file: FileRow, claimed: { modelNames: string[] }): SignedMeta {
  return {
    dv: 1,
    sender: { dv: 1, fingerprint: 'unknown' },
    user: { id: file.ownerId },
    fileClientId: file.fileClientId!,
    modelNames: claimed.modelNames,
    sourceFileClientId: file.sourceFileClientId,
  };
}

/** The file fields every token carries (seed: "Payload example for signature"). */
function fileClaims(file: FileRow) {
  return {
    id: file.id,
    recordId: file.id,
    filename: `${file.id}${extname(file.originalFilename).toLowerCase().replace(/[^.a-z0-9]/g, '').slice(0, 16)}`,
    originalFilename: file.originalFilename,
    mimetype: file.sniffedMime ?? file.declaredMime ?? 'application/octet-stream',
    encoding: file.encoding ?? 'binary',
  };
}

/**
 * `signature` (upload, share): the seed's payload, with `meta` nested; the meta fields are also repeated at the top
 * level, where Condo's own server puts them, so a backend written against either shape finds what it reads.
 */
function uploadClaims(file: FileRow, meta: SignedMeta): Record<string, unknown> {
  return { ...meta, ...fileClaims(file), meta };
}

/** `publicSignature` (inline attach, /attach): the public file metadata, safe for an app to keep. */
function publicClaims(file: FileRow, meta: SignedMeta): Record<string, unknown> {
  return { ...fileClaims(file), path: null, meta };
}
