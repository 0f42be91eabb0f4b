import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, type Client } from '@epilot/file-client';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import sharp from 'sharp';
import { LifecycleSweepJob } from '@app/files';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { PROFILE, startTestApp, type TestApp } from './support/test-app';

// Conformance of the epilot surface: the unmodified @epilot/file-client drives the running service through every
// operation it has, and every JSON answer is validated against the client's own OpenAPI document with ajv.

// eslint-disable-next-line @typescript-eslint/no-require-imports
const openapi = require('@epilot/file-client/dist/openapi.json') as { paths: Record<string, Record<string, unknown>> };

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addFormat('url', { type: 'string', validate: (s: string) => /^https?:\/\//.test(s) });
ajv.addFormat('ulid', /^[0-9A-HJKMNP-TV-Z]{26}$/);
ajv.addSchema(openapi, 'epilot');

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** Validates a JSON answer against the response schema the client's OpenAPI document gives for it. */
function conforms(path: string, method: string, status: number, data: unknown): void {
  const ref = `epilot#/paths/${pointer(path, method, 'responses', String(status), 'content', 'application/json', 'schema')}`;
  const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
  if (!validate(data)) throw new Error(`${method.toUpperCase()} ${path} ${status} does not match the schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(data, null, 2)}`);
}

const PNG = (color: string, width = 320, height = 200) => sharp({ create: { width, height, channels: 3, background: color } }).png().toBuffer();

describe('epilot File API through @epilot/file-client', () => {
  let app: TestApp;
  let client: Client;
  let anonymous: Client;
  let token: string;
  let source: Server;
  let sourceUrl: string;

  const forUser = (bearer: string): Client => {
    const c = createClient();
    c.defaults.baseURL = app.url;
    c.defaults.headers.common.Authorization = `Bearer ${bearer}`;
    c.defaults.validateStatus = () => true;
    return c;
  };

  beforeAll(async () => {
    // A local "internet" for source_url imports; only it is allow-listed.
    source = createServer((req, res) => {
      if (req.url === '/report.pdf') {
        res.writeHead(200, { 'content-type': 'application/pdf' }).end('%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n');
      } else if (req.url === '/to-metadata') {
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      } else if (req.url === '/to-private') {
        res.writeHead(302, { location: 'http://10.0.0.7/secret' }).end();
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => source.listen(0, '127.0.0.1', () => r()));
    sourceUrl = `http://127.0.0.1:${(source.address() as AddressInfo).port}`;
    app = await startTestApp({ SOURCE_URL_ALLOW_HOSTS: '127.0.0.1', PUBLIC_UPLOAD_MAX_BYTES: String(64 * 1024) });
    token = app.token({ sub: 'erika', org: 'org-1' });
    client = forUser(token);
    anonymous = createClient();
    anonymous.defaults.baseURL = app.url;
    anonymous.defaults.validateStatus = () => true;
  });
  afterAll(async () => {
    await app?.close();
    await new Promise((r) => source?.close(r));
  });

  /** uploadFileV2, then the PUT to its upload_url with the client's own axios (bearer header and all). */
  async function uploadTemp(bytes: Buffer, filename: string, mime: string, c = client) {
    const res = await c.uploadFileV2(null, { filename, mime_type: mime });
    expect(res.status).toBe(201);
    conforms('/v2/files/upload', 'post', 201, res.data);
    const put = await c.put(res.data.upload_url!, bytes, { headers: { 'content-type': mime } });
    expect(put.status).toBe(200);
    return res.data.s3ref as { bucket: string; key: string };
  }

  async function waitReady(id: string) {
    await app.waitForStatus(id, token, ['READY']);
  }

  let fileId: string;
  let firstBytes: Buffer;

  it('uploadFileV2 → PUT → saveFileV2 makes a file entity, and getFile answers it', async () => {
    firstBytes = await PNG('#cc3300');
    const s3ref = await uploadTemp(firstBytes, 'photo.png', 'image/png');
    const saved = await client.saveFileV2(null, {
      s3ref,
      filename: 'photo.png',
      _tags: ['holiday'],
      access_control: 'private',
      relations: [{ entity_id: 'contact-1', _schema: 'contact', _tags: ['photos'] }],
      my_field: 'kept',
    } as never);
    expect(saved.status).toBe(200);
    conforms('/v2/files', 'post', 200, saved.data);
    expect(saved.data).toMatchObject({ _schema: 'file', _org: 'org-1', filename: 'photo.png', type: 'image', access_control: 'private', _tags: ['holiday'], __additional: { my_field: 'kept' } });
    expect(saved.data.versions).toHaveLength(1);
    fileId = saved.data._id as string;
    await waitReady(fileId);

    const got = await client.getFile({ id: fileId });
    expect(got.status).toBe(200);
    conforms('/v2/files/{id}', 'get', 200, got.data);
    expect(got.data).toMatchObject({ _id: fileId, size_bytes: firstBytes.length, mime_type: 'image/png', _owners: [{ org_id: 'org-1', user_id: 'erika' }] });
    const withSource = await client.getFile({ id: fileId, source_url: true });
    expect(withSource.data.source_url).toMatch(/^http/);
    // The v1 upload and save are there too (201 both).
    const v1 = await client.uploadFile(null, { filename: 'v1.txt', mime_type: 'text/plain' });
    expect(v1.status).toBe(201);
    conforms('/v1/files/upload', 'post', 201, v1.data);
    await client.put(v1.data.upload_url!, Buffer.from('v1 bytes'), { headers: { 'content-type': 'text/plain' } });
    const v1saved = await client.saveFile(null, { s3ref: v1.data.s3ref, filename: 'v1.txt' } as never);
    expect(v1saved.status).toBe(201);
    conforms('/v1/files', 'post', 201, v1saved.data);
  });

  it('adds versions (one, or a batch of several with version_only), newest first, and downloads each', async () => {
    const second = await PNG('#0033cc');
    const s3ref = await uploadTemp(second, 'photo-v2.png', 'image/png');
    const v2 = await client.saveFileV2({ version_only: true }, { _id: fileId, s3ref, filename: 'photo-v2.png' } as never);
    expect(v2.status).toBe(200);
    conforms('/v2/files', 'post', 200, v2.data);
    expect(v2.data.filename).toBe('photo.png');
    expect(v2.data.versions!.map((v) => v.filename)).toEqual(['photo-v2.png', 'photo.png']);

    const a = await uploadTemp(Buffer.from('third'), 'a.txt', 'text/plain');
    const b = await uploadTemp(Buffer.from('fourth'), 'b.txt', 'text/plain');
    const batch = await client.saveFileV2({ version_only: true }, [
      { _id: fileId, s3ref: a, filename: 'a.txt' },
      { _id: fileId, s3ref: b, filename: 'b.txt' },
    ] as never);
    expect(batch.status).toBe(200);
    conforms('/v2/files', 'post', 200, batch.data);
    expect(batch.data.versions!.map((v) => v.filename)).toEqual(['b.txt', 'a.txt', 'photo-v2.png', 'photo.png']);
    const noFlag = await client.saveFileV2(null, [{ _id: fileId, s3ref: a }] as never);
    expect(noFlag.status).toBe(400);

    const latest = await client.downloadFile({ id: fileId });
    expect(latest.status).toBe(200);
    conforms('/v1/files/{id}/download', 'get', 200, latest.data);
    expect(Buffer.from(await (await fetch(latest.data.download_url!)).arrayBuffer()).toString()).toBe('fourth');
    const oldest = await client.downloadFile({ id: fileId, version: 3, attachment: false });
    expect(Buffer.from(await (await fetch(oldest.data.download_url!)).arrayBuffer()).equals(firstBytes)).toBe(true);
    expect((await client.downloadFile({ id: fileId, version: 9 })).status).toBe(404);

    const byRef = await client.downloadS3File({ s3_key: batch.data.versions![1]!.s3ref!.key, s3_bucket: batch.data.versions![1]!.s3ref!.bucket });
    expect(byRef.status).toBe(200);
    conforms('/v1/files:downloadS3', 'post', 200, byRef.data);
    expect(Buffer.from(await (await fetch(byRef.data.download_url!)).arrayBuffer()).toString()).toBe('third');

    const many = await client.downloadFiles(null, [{ id: fileId }, { id: '00000000-0000-4000-8000-000000000000' }]);
    expect(many.status).toBe(200);
    conforms('/v1/files:downloadFiles', 'post', 200, many.data);
    expect(many.data[0]).toMatchObject({ file_entity_id: fileId });
    expect(many.data[0]!.download_url).toBeDefined();
    expect(many.data[1]).toMatchObject({ file_entity_id: '00000000-0000-4000-8000-000000000000', error: expect.stringMatching(/not found/) });
  });

  it('renders previews by entity, by s3ref (POST and GET) and, once public, without credentials', async () => {
    await waitReady(fileId);
    const byVersion = await client.previewFile({ id: fileId, version: 3, w: 64 }, null, { responseType: 'arraybuffer' });
    expect(byVersion.status).toBe(200);
    expect(byVersion.headers['content-type']).toBe('image/png');
    expect(await sharp(Buffer.from(byVersion.data as unknown as ArrayBuffer)).metadata()).toMatchObject({ format: 'png', width: 64, height: 40 });
    const entity = (await client.getFile({ id: fileId })).data;
    const oldRef = entity.versions![3]!.s3ref!;
    const post = await client.previewS3File({ w: 32 }, oldRef, { responseType: 'arraybuffer' });
    expect(post.status).toBe(200);
    expect((await sharp(Buffer.from(post.data as unknown as ArrayBuffer)).metadata()).width).toBe(32);
    const get = await client.previewS3FileGet({ key: oldRef.key, bucket: oldRef.bucket, h: 20 }, null, { responseType: 'arraybuffer' });
    expect(get.status).toBe(200);
    expect((await sharp(Buffer.from(get.data as unknown as ArrayBuffer)).metadata()).height).toBe(20);
    // The current version is text: no image preview.
    expect((await client.previewFile({ id: fileId, w: 64 })).status).toBe(415);

    const privateOne = await anonymous.previewPublicFile({ id: fileId, version: 3, w: 50 });
    expect(privateOne.status).toBe(403);
    conforms('/v1/files/public/{id}/preview', 'get', 403, privateOne.data);
    expect(privateOne.data).toMatchObject({ status: 403, error: 'File is not publicly accessible' });
    await client.saveFileV2(null, { _id: fileId, access_control: 'public-read' } as never);
    const publicOne = await anonymous.previewPublicFile({ id: fileId, version: 3, w: 50, org_id: 'org-1' }, null, { responseType: 'arraybuffer' });
    expect(publicOne.status).toBe(200);
    expect((await sharp(Buffer.from(publicOne.data as unknown as ArrayBuffer)).metadata()).width).toBe(50);
    expect((await anonymous.previewPublicFile({ id: fileId, version: 3, w: 50, org_id: 'org-2' })).status).toBe(404);
    await client.saveFileV2(null, { _id: fileId, access_control: 'private' } as never);
  });

  it('turns the bearer token into an HttpOnly SameSite cookie session, and ends it', async () => {
    const res = await client.getSession();
    expect(res.status).toBe(200);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^token=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const viaCookie = await fetch(`${app.url}/v2/files/${fileId}`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(viaCookie.status).toBe(200);
    const ended = await client.deleteSession();
    expect(ended.status).toBe(200);
    expect(String(ended.headers['set-cookie'])).toMatch(/Max-Age=0/);
    expect((await fetch(`${app.url}/v2/files/${fileId}`)).status).toBe(401);
  });

  it('generates, lists, follows (with the hash check) and revokes public links', async () => {
    const created = await client.generatePublicLink({ id: fileId });
    expect(created.status).toBe(201);
    conforms('/v1/files/{id}/public/links', 'post', 201, created.data);
    const link = created.data as unknown as string;
    const [linkId, filename] = new URL(link).pathname.split('/').slice(-2) as [string, string];

    const followed = await anonymous.accessPublicLink({ id: linkId, filename }, null, { maxRedirects: 0 });
    expect(followed.status).toBe(302);
    expect(Buffer.from(await (await fetch(String(followed.headers.location))).arrayBuffer()).toString()).toBe('fourth');
    const row = await app.db.file.findUniqueOrThrow({ where: { id: fileId } });
    expect((await anonymous.accessPublicLink({ id: linkId, filename, hash: row.sha256!.slice(0, 12) }, null, { maxRedirects: 0 })).status).toBe(302);
    expect((await anonymous.accessPublicLink({ id: linkId, filename, hash: 'deadbeefdeadbeef' }, null, { maxRedirects: 0 })).status).toBe(404);

    const listed = await client.listPublicLinksForFile({ id: fileId });
    expect(listed.status).toBe(200);
    conforms('/v1/files/{id}/public/links', 'get', 200, listed.data);
    expect(listed.data.results).toEqual([expect.objectContaining({ id: linkId, link, last_accessed_at: expect.any(String) })]);

    expect((await client.revokePublicLink({ id: linkId })).status).toBe(204);
    const gone = await anonymous.accessPublicLink({ id: linkId, filename }, null, { maxRedirects: 0 });
    expect(gone.status).toBe(404);
    conforms('/v1/files/public/links/{id}/{filename}', 'get', 404, gone.data);
    expect((await client.listPublicLinksForFile({ id: fileId })).data.results).toEqual([]);
  });

  it('signs custom download URLs with the file id and an expiry, and verifies them in constant time', async () => {
    const saved = await client.saveFileV2(null, { filename: 'external.pdf', custom_download_url: 'https://downloads.example.com/get?doc=42' } as never);
    expect(saved.status).toBe(200);
    conforms('/v2/files', 'post', 200, saved.data);
    const url = saved.data.custom_download_url!;
    expect(url).toMatch(/file_id=.*expires_at=\d+.*signature=[0-9a-f]{64}/);
    const ok = await client.verifyCustomDownloadUrl(null, { custom_download_url: url });
    expect(ok.status).toBe(200);
    conforms('/v1/files/download:verify', 'post', 200, ok.data);
    expect(ok.data).toEqual({ valid: true });
    const tampered = url.replace(/signature=([0-9a-f])/, (_m, c: string) => `signature=${c === 'a' ? 'b' : 'a'}`);
    expect((await client.verifyCustomDownloadUrl(null, { custom_download_url: tampered })).data).toEqual({ valid: false });
    const otherFile = url.replace(/file_id=[^&]+/, 'file_id=someone-else');
    expect((await client.verifyCustomDownloadUrl(null, { custom_download_url: otherFile })).data).toEqual({ valid: false });
    expect((await client.verifyCustomDownloadUrl(null, { custom_download_url: 'not a url' })).data).toEqual({ valid: false });
    const download = await client.downloadFile({ id: saved.data._id as string });
    expect(download.data.download_url).toMatch(/^https:\/\/downloads\.example\.com\/get\?doc=42&file_id=/);
  });

  it('takes uploads without credentials into quarantine until a member of the organization saves them', async () => {
    const res = await anonymous.uploadFilePublic({ org_id: 'org-1' } as never, { filename: 'scan.png', mime_type: 'image/png' });
    expect(res.status).toBe(201);
    conforms('/v1/files/public/upload', 'post', 201, res.data);
    const put = await anonymous.put(res.data.upload_url!, await PNG('#00ff00', 40, 40), { headers: { 'content-type': 'image/png' } });
    expect(put.status).toBe(200);
    const quarantined = await app.db.file.findFirstOrThrow({ where: { uploadKey: res.data.s3ref!.key } });
    expect(quarantined.quarantined).toBe(true);
    expect((await client.getFile({ id: quarantined.id })).status).toBe(404);
    // Too big for an anonymous upload.
    const big = await anonymous.uploadFilePublic({ org_id: 'org-1' } as never, { filename: 'big.bin' });
    expect((await anonymous.put(big.data.upload_url!, Buffer.alloc(65 * 1024), { headers: { 'content-type': 'application/octet-stream' } })).status).toBe(413);
    expect((await anonymous.uploadFilePublic(null, { filename: 'x.bin' })).status).toBe(400);

    const saved = await client.saveFileV2(null, { s3ref: res.data.s3ref, filename: 'scan.png' } as never);
    expect(saved.status).toBe(200);
    expect(saved.data._owners).toEqual([{ org_id: 'org-1', user_id: 'erika' }]);
    expect((await client.getFile({ id: quarantined.id })).status).toBe(200);
  });

  it('manages user and global collections, and lists the files of an entity in one', async () => {
    const created = await client.createUserSchemaFileCollection({ slug: 'contact' }, { name: 'Photos', starred: true, enabled_purposes: ['p1'] });
    expect(created.status).toBe(201);
    conforms('/v1/{slug}/collections', 'post', 201, created.data);
    const slug = created.data.slug!;
    expect(slug).toBe('_system_files_collection_contact_erika:photos');
    expect((await client.createUserSchemaFileCollection({ slug: 'contact' }, { name: 'Photos' })).status).toBe(409);
    const listed = await client.getUserSchemaFileCollections({ slug: 'contact' });
    conforms('/v1/{slug}/collections', 'get', 200, listed.data);
    expect(listed.data.map((c) => c.name)).toEqual(['Photos']);
    const updated = await client.updateUserSchemaFileCollection({ slug: 'contact', collectionSlug: slug }, { name: 'Holiday photos', starred: false });
    expect(updated.status).toBe(200);
    conforms('/v1/{slug}/collections/{collectionSlug}', 'put', 200, updated.data);
    expect(updated.data).toMatchObject({ name: 'Holiday photos', starred: false, slug });

    // A file related to contact-2 with the collection's slug among the relation's tags is in it.
    const s3ref = await uploadTemp(Buffer.from('in a collection'), 'note.txt', 'text/plain');
    const saved = await client.saveFileV2(null, { s3ref, filename: 'note.txt', relations: [{ entity_id: 'contact-2', _schema: 'contact', _tags: [slug] }] } as never);
    const files = await client.getFilesInCollection({ id: 'contact-2', collectionSlug: slug });
    expect(files.status).toBe(200);
    conforms('/v1/entity/{id}/collections/{collectionSlug}/files', 'get', 200, files.data);
    expect(files.data.map((f) => f._id)).toEqual([saved.data._id]);
    const missing = await client.getFilesInCollection({ id: 'contact-2', collectionSlug: 'nope' });
    expect(missing.status).toBe(404);
    conforms('/v1/entity/{id}/collections/{collectionSlug}/files', 'get', 404, missing.data);

    const service = forUser(app.token({ sub: 'setup', org: 'org-1', role: 'service' }));
    expect((await service.post('/v1/collections/opportunity', { name: 'Templates' })).status).toBe(201);
    expect((await client.post('/v1/collections/opportunity', { name: 'Mine' })).status).toBe(403);
    const global = await client.getGlobalFileCollections({ schemaSlug: 'opportunity' });
    expect(global.status).toBe(200);
    conforms('/v1/collections/{schemaSlug}', 'get', 200, global.data);
    expect(global.data.map((c) => c.slug)).toEqual(['_system_files_collection_schema_opportunity:templates']);

    expect((await client.deleteUserSchemaFileCollection({ slug: 'contact', collectionSlug: slug })).status).toBe(200);
    expect((await client.getUserSchemaFileCollections({ slug: 'contact' })).data).toEqual([]);
  });

  it('imports from a source_url in the background, and refuses loopback, private, metadata, file:// and redirects into them', async () => {
    const ok = await client.saveFileV2(null, { source_url: `${sourceUrl}/report.pdf` } as never);
    expect(ok.status).toBe(200);
    conforms('/v2/files', 'post', 200, ok.data);
    expect(ok.data).toMatchObject({ filename: 'report.pdf', source_url: `${sourceUrl}/report.pdf` });
    const imported = await app.waitForStatus(ok.data._id as string, token, ['READY', 'FAILED']);
    expect(imported).toMatchObject({ status: 'READY', pageCount: 1 });

    for (const url of ['http://10.0.0.1/x.pdf', 'http://169.254.169.254/latest/meta-data/', 'file:///etc/passwd', 'http://localhost/x', 'http://[::1]/x', 'http://2130706434/x' /* 127.0.0.2: only 127.0.0.1 is allow-listed */]) {
      const refused = await client.saveFileV2(null, { source_url: url } as never);
      expect({ url, status: refused.status }).toEqual({ url, status: 400 });
      expect((refused.data as unknown as { error: string }).error).toMatch(/source_url/);
    }
    for (const hop of ['to-metadata', 'to-private']) {
      const redirected = await client.saveFileV2(null, { source_url: `${sourceUrl}/${hop}` } as never);
      expect(redirected.status).toBe(200);
      const failed = await app.waitForStatus(redirected.data._id as string, token, ['READY', 'FAILED']);
      expect(failed.status).toBe('FAILED');
      expect(String(failed.failureReason)).toMatch(/redirect target .* (169\.254\.169\.254|10\.0\.0\.7)/);
    }
  });

  it('follows _owners and _acl: other organizations see nothing unless granted, and only what they are granted', async () => {
    const outsider = forUser(app.token({ sub: 'olaf', org: 'org-2' }));
    const s3ref = await uploadTemp(Buffer.from('shared across orgs'), 'acl.txt', 'text/plain');
    const saved = await client.saveFileV2(null, { s3ref, filename: 'acl.txt' } as never);
    const id = saved.data._id as string;
    expect((await outsider.getFile({ id })).status).toBe(404);
    const granted = await client.saveFileV2(null, { _id: id, _acl: { view: ['org:org-2'], edit: [], delete: [] } } as never);
    expect(granted.data._acl).toEqual({ view: ['org:org-2'], edit: [], delete: [] });
    expect((await outsider.getFile({ id })).status).toBe(200);
    expect((await outsider.saveFileV2(null, { _id: id, filename: 'hijacked.txt' } as never)).status).toBe(403);
    expect((await outsider.deleteFile({ id })).status).toBe(403);
    await client.saveFileV2(null, { _id: id, _acl: { view: ['org:org-2'], edit: ['user:olaf'], delete: [] } } as never);
    expect((await outsider.saveFileV2(null, { _id: id, filename: 'renamed.txt' } as never)).data.filename).toBe('renamed.txt');
    expect((await outsider.deleteFile({ id })).status).toBe(403);
    expect((await client.saveFileV2(null, { _id: id, _acl: { view: ['everyone'] } } as never)).status).toBe(400);
  });

  it('expires temporary uploads after a week (controlled clock), and deletes softly or purges every version', async () => {
    const s3ref = await uploadTemp(Buffer.from('never saved'), 'temp.txt', 'text/plain');
    const temp = await app.db.file.findFirstOrThrow({ where: { uploadKey: s3ref.key } });
    const week = temp.temporaryUntil!.getTime() - temp.createdAt.getTime();
    expect(Math.abs(week - 7 * 24 * 3600 * 1000)).toBeLessThan(60_000);
    const sweep = app.get<LifecycleSweepJob>(LifecycleSweepJob);
    const real = Date.now();
    try {
      jest.useFakeTimers({ now: real + 6 * 24 * 3600 * 1000, doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'queueMicrotask', 'hrtime', 'performance'] });
      await sweep.handle({ task: 'expire-temporary' });
      expect((await app.db.file.findUniqueOrThrow({ where: { id: temp.id } })).deletedAt).toBeNull();
      jest.setSystemTime(real + 8 * 24 * 3600 * 1000);
      expect((await sweep.handle({ task: 'expire-temporary' })).detail).toMatch(/temporary file\(s\) expired/);
      expect((await app.db.file.findUniqueOrThrow({ where: { id: temp.id } })).deletedAt).not.toBeNull();
    } finally {
      jest.useRealTimers();
    }
    // Saving it now fails: it is gone.
    expect((await client.saveFileV2(null, { s3ref } as never)).status).toBe(404);

    const soft = await client.deleteFile({ id: fileId });
    expect(soft.status).toBe(200);
    conforms('/v2/files/{id}', 'delete', 200, soft.data);
    expect((await client.getFile({ id: fileId })).status).toBe(404);

    const storage = app.get<StorageDriver>(STORAGE_DRIVER);
    const s3 = await uploadTemp(Buffer.from('purge me'), 'p.txt', 'text/plain');
    const saved = await client.saveFileV2(null, { s3ref: s3, filename: 'p.txt' } as never);
    const more = await uploadTemp(Buffer.from('purge me too'), 'p2.txt', 'text/plain');
    await client.saveFileV2({ version_only: true }, { _id: saved.data._id, s3ref: more } as never);
    await app.waitForStatus(saved.data._id as string, token, ['READY']);
    const purged = await client.deleteFile({ id: saved.data._id as string, purge: true });
    expect(purged.status).toBe(200);
    expect(await storage.head(s3.key)).toBeNull();
    expect(await storage.head(more.key)).toBeNull();
    expect(await app.db.file.findUnique({ where: { id: saved.data._id as string } })).toBeNull();
    if (PROFILE === 'full') expect(app.config.storage.driver).toBe('s3');
  });
});
