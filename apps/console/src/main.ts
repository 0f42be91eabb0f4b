import { ApiError, call, session, signIn, signOut, upload, type FileSummary } from './api.js';

// The web console: sign in, upload with progress, browse with filters, and act on one file. Plain DOM, no
// framework: a handful of views that re-render from the API's answers.

const $ = <T extends HTMLElement>(selector: string): T => {
  const element = document.querySelector<T>(selector);
  if (!element) throw new Error(`Missing ${selector}`);
  return element;
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function size(bytes: number | null): string {
  if (bytes === null) return '–';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

const isImage = (f: Pick<FileSummary, 'contentType'>) => f.contentType.startsWith('image/');
const isPdf = (f: Pick<FileSummary, 'contentType'>) => f.contentType === 'application/pdf';

let selectedId: string | null = null;
let refreshTimer: number | undefined;

// ——— sign-in ———

async function start(): Promise<void> {
  const config = await fetch('/console/config.json').then((r) => r.json() as Promise<{ devSignIn: boolean }>);
  $('#dev-sign-in-row').hidden = !config.devSignIn;
  $<HTMLFormElement>('#token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void enter($<HTMLInputElement>('#token').value.trim());
  });
  $('#dev-sign-in').addEventListener('click', () => {
    void fetch('/console/dev-token', { method: 'POST' })
      .then((r) => r.json() as Promise<{ token: string }>)
      .then(({ token }) => enter(token));
  });
  $('#sign-out').addEventListener('click', () => {
    void signOut().then(() => location.reload());
  });
  if (session.token) await enter(session.token);
}

async function enter(token: string): Promise<void> {
  $('#sign-in-error').textContent = '';
  try {
    const { userId, orgId } = await signIn(token);
    $('#who').textContent = `${userId}${orgId ? ` · ${orgId}` : ''}`;
    $('#sign-in').hidden = true;
    $('#app').hidden = false;
    $('#sign-out').hidden = false;
    await refresh();
  } catch (error) {
    $('#sign-in-error').textContent = error instanceof ApiError && error.status === 401 ? 'The server refused this token.' : (error as Error).message;
  }
}

// ——— uploads ———

function setUpUploads(): void {
  const drop = $('#drop');
  const input = $<HTMLInputElement>('#file-input');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    startUploads([...(e.dataTransfer?.files ?? [])]);
  });
  input.addEventListener('change', () => {
    startUploads([...(input.files ?? [])]);
    input.value = '';
  });
}

function startUploads(files: File[]): void {
  for (const file of files) {
    const bar = el('progress', { max: '100', value: '0' });
    const percent = el('span', { class: 'percent' }, '0 %');
    const cancel = el('button', { type: 'button' }, 'Cancel');
    const row = el('li', { 'data-name': file.name }, el('span', {}, file.name), bar, percent, cancel);
    $('#uploads').append(row);
    const job = upload(file, (loaded, total) => {
      const p = Math.round((loaded / total) * 100);
      bar.value = p;
      percent.textContent = `${p} %`;
    });
    cancel.addEventListener('click', () => job.cancel());
    job.done.then(
      () => {
        bar.value = 100;
        percent.textContent = '100 %';
        row.classList.add('done');
        cancel.remove();
        void refresh();
      },
      (error: Error) => {
        percent.textContent = error.message;
        row.classList.add('failed');
        cancel.remove();
      },
    );
  }
}

// ——— list ———

function query(): string {
  const form = new FormData($<HTMLFormElement>('#filters'));
  const params = new URLSearchParams();
  for (const [k, v] of form) if (typeof v === 'string' && v.trim()) params.set(k, v.trim());
  params.set('limit', '100');
  return params.toString();
}

async function refresh(): Promise<void> {
  window.clearTimeout(refreshTimer);
  try {
    const { data } = await call<{ data: FileSummary[] }>('GET', `/files?${query()}`);
    renderList(data);
    $('#list-error').textContent = '';
    // Files still being processed change on their own: look again shortly.
    if (data.some((f) => f.status === 'UPLOADING' || f.status === 'PROCESSING')) refreshTimer = window.setTimeout(() => void refresh(), 1000);
    if (selectedId) await showDetail(selectedId, false);
  } catch (error) {
    $('#list-error').textContent = (error as Error).message;
  }
}

function thumbnail(file: FileSummary): HTMLElement {
  if (isImage(file) && file.status === 'READY' && file.thumbnails.length > 0) {
    // The session cookie authenticates the image request; the preview is rendered once and kept.
    return el('img', { class: 'thumb', alt: '', src: `/files/${file.id}/preview?w=96&h=96&fit=cover`, loading: 'lazy' });
  }
  const extension = file.name.includes('.') ? file.name.split('.').pop()!.slice(0, 4) : 'file';
  return el('span', { class: 'badge' }, extension);
}

function renderList(files: FileSummary[]): void {
  const body = $('#files tbody');
  body.replaceChildren(
    ...files.map((f) => {
      const row = el(
        'tr',
        { 'data-id': f.id, ...(f.id === selectedId ? { class: 'selected' } : {}) },
        el('td', {}, thumbnail(f)),
        el('td', {}, f.name),
        el('td', {}, size(f.size)),
        el('td', { class: `status-${f.status}` }, f.status),
        el('td', {}, f.visibility),
        el('td', {}, new Date(f.createdAt).toLocaleString()),
      );
      row.addEventListener('click', () => void showDetail(f.id, true));
      return row;
    }),
  );
  $('#empty').hidden = files.length > 0;
}

function setUpFilters(): void {
  const form = $<HTMLFormElement>('#filters');
  let timer: number | undefined;
  form.addEventListener('input', () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void refresh(), 250);
  });
  form.addEventListener('submit', (e) => e.preventDefault());
}

// ——— detail ———

async function showDetail(id: string, fresh: boolean): Promise<void> {
  selectedId = id;
  for (const row of document.querySelectorAll('#files tbody tr')) row.classList.toggle('selected', row.getAttribute('data-id') === id);
  const pane = $('#detail');
  let file: FileSummary;
  try {
    file = await call<FileSummary>('GET', `/files/${id}`);
  } catch (error) {
    pane.replaceChildren(el('p', { class: 'error' }, (error as Error).message));
    return;
  }
  pane.hidden = false;
  const previous = pane.getAttribute('data-rendered');
  const signature = `${file.id}:${file.updatedAt}:${file.status}:${file.visibility}`;
  if (!fresh && previous === signature) return;
  pane.setAttribute('data-rendered', signature);

  const facts: [string, string][] = [
    ['Id', file.id],
    ['Type', file.contentType],
    ['Size', size(file.size)],
    ['Status', file.status + (file.failureReason ? ` (${file.failureReason})` : '')],
    ['SHA-256', file.sha256 ?? '–'],
    ['Visibility', file.visibility],
    ['Owner', `${file.ownerId}${file.organizationId ? ` · ${file.organizationId}` : ''}`],
    ['Uploaded', new Date(file.createdAt).toLocaleString()],
  ];
  if (file.pageCount !== null) facts.push(['Pages', String(file.pageCount)]);
  if (file.width !== null) facts.push(['Dimensions', `${file.width} × ${file.height}`]);
  if (file.tags.length) facts.push(['Tags', file.tags.join(', ')]);

  const preview = el('div', { class: 'preview-box' });
  if (file.status === 'READY' && isImage(file)) {
    preview.append(el('img', { class: 'preview', alt: `Preview of ${file.name}`, src: `/files/${file.id}/preview?w=800` }));
  } else if (file.status === 'READY' && isPdf(file)) {
    const { url } = await call<{ url: string }>('GET', `/files/${file.id}/download-url?disposition=inline`);
    preview.append(el('iframe', { class: 'preview', title: `Preview of ${file.name}`, src: url }));
  }

  const toggle = el('button', { type: 'button', id: 'toggle-visibility' }, file.visibility === 'public' ? 'Make private' : 'Make public');
  toggle.addEventListener('click', () => {
    void call('PATCH', `/files/${file.id}`, { visibility: file.visibility === 'public' ? 'private' : 'public' }).then(() => refresh());
  });
  const shareBox = el('div', { class: 'share' });
  const share = el('button', { type: 'button', id: 'share' }, 'Share link');
  share.addEventListener('click', () => {
    void call<string>('POST', `/v1/files/${file.id}/public/links`).then((link) => {
      const input = el('input', { id: 'share-link', readonly: '', value: link });
      const copy = el('button', { type: 'button' }, 'Copy');
      copy.addEventListener('click', () => {
        void navigator.clipboard.writeText(link).then(() => (copy.textContent = 'Copied'));
      });
      shareBox.replaceChildren(input, copy);
    });
  });
  const download = el('button', { type: 'button' }, 'Download');
  download.addEventListener('click', () => {
    void call<{ url: string }>('GET', `/files/${file.id}/download-url`).then(({ url }) => (location.href = url));
  });
  const remove = el('button', { type: 'button', id: 'delete' }, 'Delete');
  remove.addEventListener('click', () => {
    if (!confirm(`Delete ${file.name}?`)) return;
    void call('DELETE', `/files/${file.id}`).then(() => {
      selectedId = null;
      pane.hidden = true;
      return refresh();
    });
  });

  const disabled = file.status !== 'READY' && file.status !== 'PROCESSING';
  for (const b of [share, download]) if (disabled) b.setAttribute('disabled', '');

  pane.replaceChildren(
    el('h2', {}, file.name),
    preview,
    el('div', { class: 'actions' }, toggle, share, download, remove),
    shareBox,
    el('dl', {}, ...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    el('h3', {}, 'Versions'),
    el('ol', { reversed: '' }, ...file.versions.map((v) => el('li', {}, `${v.name} · ${size(v.size)} · ${new Date(v.createdAt).toLocaleString()}`))),
    el('h3', {}, 'Linked records'),
    file.associations.length
      ? el('ul', {}, ...file.associations.map((a) => el('li', {}, `${a.entityName} ${a.entityReference}`)))
      : el('p', { class: 'muted' }, 'None'),
  );
}

setUpUploads();
setUpFilters();
void start();
