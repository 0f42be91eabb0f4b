import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { PRISMA, type Db, type FileClient } from '@app/database';
import { AppError, Errors } from '@app/errors';
import { SecretBox } from './secret-box';

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const MIN_SECRET_LENGTH = 16;

/** The secrets a client's signatures may be checked with: the current one, then the previous one in its grace. */
export interface ClientSecrets {
  current: string;
  previous?: string;
}

export interface FileClientView {
  id: string;
  name: string | null;
  organizationId: string | null;
  /** `environment`: from FILE_CLIENTS (read-only here); `api`: registered through the admin API. */
  source: 'environment' | 'api';
  /** Until when signatures made with the previous secret still verify, after a rotation. */
  previousSecretValidUntil: string | null;
  createdAt: string | null;
  updatedAt: string | null;
}

/**
 * The pre-registered applications of the signed REST flow. Clients come from FILE_CLIENTS (the operator's
 * configuration, read-only) and from the admin API (stored in the database). A client's secret signs tokens, so it
 * is kept encrypted (SecretBox), never hashed; it is shown once, when it is created or rotated.
 */
@Injectable()
export class FileClientsService {
  private readonly box: SecretBox;

  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.box = new SecretBox(config.fileClients.secretsKey);
  }

  private configuredSecret(id: string): string | undefined {
    return Object.hasOwn(this.config.fileClients.configured, id) ? this.config.fileClients.configured[id] : undefined;
  }

  /** Null when no such client is registered. */
  async secrets(id: string): Promise<ClientSecrets | null> {
    const configured = this.configuredSecret(id);
    if (configured !== undefined) return { current: configured };
    const row = await this.db.fileClient.findUnique({ where: { id } });
    if (!row) return null;
    const inGrace = row.previousSecretEncrypted && row.previousValidUntil && row.previousValidUntil.getTime() > Date.now();
    return {
      current: this.box.open(row.secretEncrypted),
      previous: inGrace ? this.box.open(row.previousSecretEncrypted!) : undefined,
    };
  }

  async exists(id: string): Promise<boolean> {
    return (await this.secrets(id)) !== null;
  }

  async list(): Promise<FileClientView[]> {
    const rows = await this.db.fileClient.findMany({ orderBy: { id: 'asc' } });
    const configured = Object.keys(this.config.fileClients.configured)
      .sort()
      .map((id): FileClientView => ({
        id,
        name: null,
        organizationId: null,
        source: 'environment',
        previousSecretValidUntil: null,
        createdAt: null,
        updatedAt: null,
      }));
    return [...configured, ...rows.filter((r) => this.configuredSecret(r.id) === undefined).map((r) => this.view(r))];
  }

  async get(id: string): Promise<FileClientView> {
    const all = await this.list();
    const client = all.find((c) => c.id === id);
    if (!client) throw Errors.notFound('File client', id);
    return client;
  }

  /** Registers a client; without a secret one is generated. The secret is returned this once. */
  async register(input: { id: string; name?: string; organizationId?: string; secret?: string }): Promise<FileClientView & { secret: string }> {
    if (!CLIENT_ID.test(input.id)) {
      throw Errors.badRequest('id must be 1 to 128 characters of letters, digits, dot, underscore, colon or dash, starting with a letter or digit');
    }
    if (this.configuredSecret(input.id) !== undefined) {
      throw new AppError('CONFLICT', `File client '${input.id}' is configured by FILE_CLIENTS; change it there`);
    }
    const secret = this.checkedSecret(input.secret);
    const existing = await this.db.fileClient.findUnique({ where: { id: input.id } });
    if (existing) throw new AppError('CONFLICT', `File client '${input.id}' already exists; rotate its secret instead`);
    const row = await this.db.fileClient.create({
      data: { id: input.id, name: input.name ?? null, organizationId: input.organizationId ?? null, secretEncrypted: this.box.seal(secret) },
    });
    return { ...this.view(row), secret };
  }

  /**
   * A new secret for the client; signatures made with the old one keep verifying for `graceSeconds`
   * (FILE_CLIENT_ROTATION_GRACE_SECONDS by default), so apps can roll their backends over without downtime.
   */
  async rotate(id: string, input: { secret?: string; graceSeconds?: number } = {}): Promise<FileClientView & { secret: string }> {
    if (this.configuredSecret(id) !== undefined) {
      throw new AppError('CONFLICT', `File client '${id}' is configured by FILE_CLIENTS; rotate it there`);
    }
    const grace = input.graceSeconds ?? this.config.fileClients.rotationGraceSeconds;
    if (!Number.isInteger(grace) || grace < 0 || grace > 30 * 24 * 3600) {
      throw Errors.badRequest('graceSeconds must be a whole number of seconds from 0 to 2592000 (30 days)');
    }
    const secret = this.checkedSecret(input.secret);
    const row = await this.db.fileClient.findUnique({ where: { id } });
    if (!row) throw Errors.notFound('File client', id);
    const updated = await this.db.fileClient.update({
      where: { id },
      data: {
        secretEncrypted: this.box.seal(secret),
        previousSecretEncrypted: grace > 0 ? row.secretEncrypted : null,
        previousValidUntil: grace > 0 ? new Date(Date.now() + grace * 1000) : null,
      },
    });
    return { ...this.view(updated), secret };
  }

  async remove(id: string): Promise<void> {
    if (this.configuredSecret(id) !== undefined) {
      throw new AppError('CONFLICT', `File client '${id}' is configured by FILE_CLIENTS; remove it there`);
    }
    const { count } = await this.db.fileClient.deleteMany({ where: { id } });
    if (count === 0) throw Errors.notFound('File client', id);
  }

  private checkedSecret(secret: string | undefined): string {
    if (secret === undefined) return randomBytes(32).toString('base64url');
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH || secret.length > 512) {
      throw Errors.badRequest(`secret must be a string of ${MIN_SECRET_LENGTH} to 512 characters`);
    }
    return secret;
  }

  private view(row: FileClient): FileClientView {
    const inGrace = row.previousValidUntil && row.previousValidUntil.getTime() > Date.now();
    return {
      id: row.id,
      name: row.name,
      organizationId: row.organizationId,
      source: 'api',
      previousSecretValidUntil: inGrace ? row.previousValidUntil!.toISOString() : null,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    };
  }
}
