import { Injectable } from '@nestjs/common';

/**
 * The service's own key spaces (StorageLocator); anything else in a shared bucket is never touched. `staging/`
 * holds direct uploads not yet completed: an UPLOADING record points at its staging object (in flight); once
 * completed the record points elsewhere, so bytes written to the old URL afterwards are orphans like any other.
 * `quarantine/` holds infected bytes moved out of `objects/` (ContentQuarantine): QUARANTINED records point at them,
 * so they are referenced, never orphans; a copy whose transaction failed is an orphan like any other.
 */
export const MANAGED_PREFIXES = ['objects/', 'derived/', 'staging/', 'quarantine/'] as const;

/**
 * Keys a module writes for uploads still in progress, before a record points at them (tus uploads, S3 multipart
 * uploads begun by a client, …). The reconciler walks each registered prefix too: an object or incomplete upload
 * under it no record references is left alone until it is older than `abandonAfterSeconds`, then it is an orphan.
 */
export interface InFlightKeySpace {
  /** Lower-case key grammar, ends with `/`, outside `objects/` and `derived/` (e.g. `uploads/tus/`). */
  prefix: string;
  /** The module that registered it, shown in reports and errors. */
  owner: string;
  /** After this long an unfinished upload under the prefix is abandoned. Default: ABANDONED_UPLOAD_HOURS. */
  abandonAfterSeconds?: number;
}

const PREFIX_PATTERN = /^[a-z0-9]+(?:\/[a-z0-9][a-z0-9._-]*)*\/$/;

/**
 * Where modules declare their in-flight key spaces, once, at start (in their provider's constructor or
 * onModuleInit): `keySpaces.register({ prefix: 'uploads/tus/', owner: 'tus', abandonAfterSeconds: 86400 })`.
 * A module whose in-flight uploads write under `objects/` instead must create their UPLOADING record first, with
 * the key: a key an UPLOADING record points at is in flight until ABANDONED_UPLOAD_HOURS have passed.
 */
@Injectable()
export class ReconcileKeySpaces {
  private readonly spaces: InFlightKeySpace[] = [];

  register(space: InFlightKeySpace): void {
    if (!PREFIX_PATTERN.test(space.prefix)) throw new Error(`${space.owner}: key space ${JSON.stringify(space.prefix)} must be a key prefix ending in /`);
    if (MANAGED_PREFIXES.some((p) => space.prefix.startsWith(p) || p.startsWith(space.prefix))) {
      throw new Error(`${space.owner}: key space ${space.prefix} overlaps the service's own ${MANAGED_PREFIXES.join(', ')}`);
    }
    const clash = this.spaces.find((s) => s.prefix.startsWith(space.prefix) || space.prefix.startsWith(s.prefix));
    if (clash) throw new Error(`${space.owner}: key space ${space.prefix} overlaps ${clash.prefix} of ${clash.owner}`);
    this.spaces.push({ ...space });
  }

  list(): readonly InFlightKeySpace[] {
    return this.spaces;
  }

  /** The registered space a key belongs to, if any. */
  match(key: string): InFlightKeySpace | undefined {
    return this.spaces.find((s) => key.startsWith(s.prefix));
  }
}
