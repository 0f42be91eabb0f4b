import type { TestApp } from './test-app';

/** Uploads `bytes` as `name` through `POST /files` (multipart); the file's id. Anything but 201 fails with the answer. */
export async function uploadFile(app: TestApp, token: string, bytes: Buffer, name: string, type = 'application/octet-stream'): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type }), name);
  const res = await fetch(`${app.url}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  const body = (await res.json()) as { id: string; message?: string };
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${body.message}`);
  return body.id;
}
