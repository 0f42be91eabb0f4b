import { randomBytes } from 'node:crypto';
import { errorCode, gql } from './support/graphql';
import { startTestApp, type TestApp } from './support/test-app';

const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
);

const CREATE = `mutation($file: CreateFileUploadInput!) { createFileUpload(file: $file) { id uploadUrl formFields } }`;
const STATUS = `mutation($id: ID!) { updateFileStatus(fileId: $id, status: READY) { id status } }`;
const FILE = `query($id: ID!) { file(fileId: $id) { id name url isPublic status size sha256 contentType category associations { entityName entityReference } } }`;

async function postForm(uploadUrl: string, fields: Record<string, string>, bytes: Buffer, type: string): Promise<Response> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([bytes], { type }), 'upload');
  return fetch(uploadUrl, { method: 'POST', body: form });
}

describe('GraphQL files API (ROQ)', () => {
  let app: TestApp;
  let service: string;
  let user: string;

  beforeAll(async () => {
    app = await startTestApp({ MAX_UPLOAD_BYTES: String(1024 * 1024), SIGNED_URL_TTL_SECONDS: '4' });
    service = app.token({ sub: 'backend', org: 'acme', role: 'service' });
    user = app.token({ sub: 'alice', org: 'acme' });
  });
  afterAll(() => app?.close());

  async function createUpload(file: Record<string, string>) {
    const res = await gql(app, service, CREATE, { file });
    expect(res.errors).toBeUndefined();
    return res.data.createFileUpload as { id: string; uploadUrl: string; formFields: Record<string, string> };
  }

  it('runs the seed flow: createFileUpload → POST → updateFileStatus → associate → files(filter) → public → private', async () => {
    const upload = await createUpload({ name: 'contract.pdf', contentType: 'application/pdf', fileCategory: 'pdf' });
    expect(upload.uploadUrl).toMatch(/^http/);
    expect(Object.keys(upload.formFields).length).toBeGreaterThan(0);

    const early = await gql(app, service, STATUS, { id: upload.id });
    expect(errorCode(early)).toBe('CONFLICT');
    expect(early.errors![0].message).toMatch(/has not been uploaded yet/);
    expect((await gql(app, service, FILE, { id: upload.id })).data.file.status).toBe('UPLOADING');

    const posted = await postForm(upload.uploadUrl, upload.formFields, PDF, 'application/pdf');
    expect(posted.status).toBeLessThan(300);

    const done = await gql(app, service, STATUS, { id: upload.id });
    expect(done.errors).toBeUndefined();
    expect(['PROCESSING', 'READY']).toContain(done.data.updateFileStatus.status);
    const ready = await app.waitForStatus(upload.id, user, ['READY', 'FAILED']);
    expect(ready).toMatchObject({ status: 'READY', size: PDF.length, contentType: 'application/pdf' });

    const assoc = `mutation($dto: CreateFileAssociationDto!) { createFileAssociation(createFileAssociationDto: $dto) { id } }`;
    const dto = { entityReference: '123', entityName: 'contract', fileId: upload.id };
    const a1 = await gql(app, service, assoc, { dto });
    const a2 = await gql(app, service, assoc, { dto });
    expect(a1.data.createFileAssociation.id).toBe(a2.data.createFileAssociation.id);
    await gql(app, service, assoc, { dto: { ...dto, entityName: 'invoice', entityReference: '9' } });

    const list = await gql(
      app,
      user,
      `{ files(filter: { entityName: { equalTo: "contract" }, entityIdentifiers: { equalTo: "123" } }) { totalCount data { id name contentType url isPublic } } }`,
    );
    expect(list.errors).toBeUndefined();
    expect(list.data.files.totalCount).toBe(1);
    const listed = list.data.files.data[0];
    expect(listed).toMatchObject({ id: upload.id, name: 'contract.pdf', contentType: 'application/pdf', isPublic: false });
    const signed = await fetch(listed.url);
    expect(signed.status).toBe(200);
    expect(Buffer.from(await signed.arrayBuffer()).equals(PDF)).toBe(true);

    const publicRes = await gql(app, service, `mutation($id: ID!) { makeFilePublic(id: $id) { id } }`, { id: upload.id });
    expect(publicRes.data.makeFilePublic.id).toBe(upload.id);
    const pub = (await gql(app, user, FILE, { id: upload.id })).data.file;
    expect(pub.isPublic).toBe(true);
    const staticUrl: string = pub.url;
    const anonymous = await fetch(staticUrl);
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await anonymous.arrayBuffer()).equals(PDF)).toBe(true);
    expect((await fetch(staticUrl)).status).toBe(200);

    await gql(app, service, `mutation($id: ID!) { makeFilePrivate(id: $id) { id } }`, { id: upload.id });
    expect((await fetch(staticUrl)).status).toBe(404);
    const priv = (await gql(app, user, FILE, { id: upload.id })).data.file;
    expect(priv.isPublic).toBe(false);
    expect(priv.url).not.toBe(staticUrl);
    expect((await fetch(priv.url)).status).toBe(200);
    expect(priv.associations).toEqual([
      { entityName: 'contract', entityReference: '123' },
      { entityName: 'invoice', entityReference: '9' },
    ]);
  });

  it('refuses an unknown category and a content type the category does not allow with BAD_USER_INPUT', async () => {
    const unknown = await gql(app, service, CREATE, { file: { name: 'a', contentType: 'image/png', fileCategory: 'nope' } });
    expect(errorCode(unknown)).toBe('BAD_USER_INPUT');
    expect(unknown.errors![0].message).toMatch(/Unknown file category 'nope'/);
    const wrong = await gql(app, service, CREATE, { file: { name: 'a.exe', contentType: 'application/x-msdownload', fileCategory: 'image' } });
    expect(errorCode(wrong)).toBe('BAD_USER_INPUT');
    expect(wrong.errors![0].message).toMatch(/does not accept application\/x-msdownload/);
  });

  it('lets storage refuse a POST over the size limit, a tampered field and an expired policy', async () => {
    const big = await createUpload({ name: 'big.bin', contentType: 'application/octet-stream', fileCategory: 'default' });
    const tooLarge = await postForm(big.uploadUrl, big.formFields, randomBytes(1024 * 1024 + 1), 'application/octet-stream');
    expect(tooLarge.status).toBeGreaterThanOrEqual(400);
    expect(tooLarge.status).toBeLessThan(500);
    expect(errorCode(await gql(app, service, STATUS, { id: big.id }))).toBe('CONFLICT');

    const tampered = await createUpload({ name: 't.bin', contentType: 'application/octet-stream', fileCategory: 'default' });
    const fields = { ...tampered.formFields, key: `${tampered.formFields.key}x` };
    expect((await postForm(tampered.uploadUrl, fields, Buffer.from('x'), 'application/octet-stream')).status).toBe(403);

    const expiring = await createUpload({ name: 'late.bin', contentType: 'application/octet-stream', fileCategory: 'default' });
    // Expiry is the behaviour under test: wait out the 4-second policy.
    await new Promise((r) => setTimeout(r, 5000));
    expect((await postForm(expiring.uploadUrl, expiring.formFields, Buffer.from('late'), 'application/octet-stream')).status).toBe(403);
  });

  it('keeps server-side mutations for service tokens and hides other organizations’ files', async () => {
    const denied = await gql(app, user, CREATE, { file: { name: 'a.png', contentType: 'image/png', fileCategory: 'image' } });
    expect(errorCode(denied)).toBe('FORBIDDEN');
    expect(denied.errors![0].message).toMatch(/createFileUpload is server-side only/);

    const mine = await createUpload({ name: 'x.txt', contentType: 'text/plain', fileCategory: 'default' });
    const otherService = app.token({ sub: 'evil-backend', org: 'evil', role: 'service' });
    expect(errorCode(await gql(app, otherService, FILE, { id: mine.id }))).toBe('NOT_FOUND');
    expect(errorCode(await gql(app, otherService, `mutation($id: ID!) { makeFilePublic(id: $id) { id } }`, { id: mine.id }))).toBe('NOT_FOUND');
    expect(errorCode(await gql(app, undefined, FILE, { id: mine.id }))).toBe('UNAUTHENTICATED');
  });

  it('streams a GraphQL multipart upload, and refuses one without a CSRF preflight header', async () => {
    const operations = JSON.stringify({
      query: 'mutation($file: Upload!) { uploadFile(file: $file) { id name size status } }',
      variables: { file: null },
    });
    const body = () => {
      const form = new FormData();
      form.append('operations', operations);
      form.append('map', JSON.stringify({ 0: ['variables.file'] }));
      form.append('0', new Blob([PDF], { type: 'application/pdf' }), 'via-graphql.pdf');
      return form;
    };
    const refused = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${user}` }, body: body() });
    expect(refused.status).toBe(400);
    const ok = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user}`, 'apollo-require-preflight': 'true' },
      body: body(),
    });
    const result = (await ok.json()) as any;
    expect(result.errors).toBeUndefined();
    expect(result.data.uploadFile).toMatchObject({ name: 'via-graphql.pdf', size: PDF.length });
  });

  it('lists a page of 100 files with associations in a bounded number of SQL statements', async () => {
    const org = app.token({ sub: 'bulk', org: 'bulk-org', role: 'service' });
    for (let i = 0; i < 100; i++) {
      const { id } = (await gql(app, org, CREATE, { file: { name: `f${i}.txt`, contentType: 'text/plain', fileCategory: 'default' } })).data
        .createFileUpload;
      await gql(app, org, `mutation($dto: CreateFileAssociationDto!) { createFileAssociation(createFileAssociationDto: $dto) { id } }`, {
        dto: { fileId: id, entityName: 'batch', entityReference: String(i % 3) },
      });
    }
    let statements = 0;
    (app.db as unknown as { $on(event: 'query', cb: () => void): void }).$on('query', () => statements++);
    const page = await gql(app, org, `{ files(limit: 100, filter: { entityName: { equalTo: "batch" } }) { totalCount data { id url associations { entityReference } thumbnails { variant } } } }`);
    expect(page.errors).toBeUndefined();
    expect(page.data.files.data).toHaveLength(100);
    expect(page.data.files.totalCount).toBe(100);
    // Files, their categories, associations, thumbnails and the count: a handful, however many files.
    expect(statements).toBeGreaterThan(0);
    expect(statements).toBeLessThanOrEqual(8);
  });

  it('refuses out-of-range paging with BAD_USER_INPUT', async () => {
    for (const args of ['limit: 1000', 'limit: 0', 'offset: -1']) {
      const paging = await gql(app, user, `{ files(${args}) { totalCount } }`);
      expect(errorCode(paging)).toBe('BAD_USER_INPUT');
      expect(paging.errors![0].message).toMatch(/limit must be between 1 and 100|offset must not be negative/);
    }
  });
});
