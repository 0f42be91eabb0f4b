import { constants as zlibConstants, inflateSync } from 'node:zlib';
import { asBytes } from '../media-input';
import { MediaError } from '../media.error';
import {
  PdfIncompleteError,
  PdfObjectParser,
  PdfRef,
  PdfString,
  PdfSyntaxError,
  isDict,
  nameOf,
  type PdfDict,
  type PdfValue,
} from './pdf-object.parser';
import { createStandardDecryptor, type PdfDecryptorResult } from './pdf-standard.decryptor';

// Where the count came from: the catalog's page tree, a parentless Pages node, or the number of Page objects.
export type PdfPageCountMethod = 'page-tree' | 'orphan-page-tree' | 'page-objects';

export interface PdfPageCountResult {
  pages: number;
  method: PdfPageCountMethod;
}

// Readers accept the header anywhere in the first 1024 bytes (ISO 32000-1 annex H.3).
const HEADER_WINDOW = 1024;
// Bounds on what one object may make us hold: a dictionary (a page tree node's /Kids can be long) and an
// object stream, compressed and inflated. Streams of any other kind are skipped, never held.
const MAX_OBJECT_HEAD = 8 * 1024 * 1024;
const MAX_OBJECT_STREAM = 16 * 1024 * 1024;
const MAX_OBJECT_STREAM_INFLATED = 64 * 1024 * 1024;
// Object streams that could not be read when met (encrypted ones, the key being known only from the trailer,
// usually at the end) are kept up to this many bytes in all, to be tried again at the end.
const MAX_DEFERRED_OBJECT_STREAMS = 32 * 1024 * 1024;
// When nothing matched, keep this much so an `N G obj` split across two chunks is still found.
const SCAN_TAIL = 64;
const ENDSTREAM = Buffer.from('endstream', 'latin1');

// `N G obj` or `trailer`, each standing as a token (not preceded or followed by a regular character).
const NOT_REGULAR = String.raw`[\0\t\n\f\r ()<>\[\]{}\/%]`;
const TOKEN = new RegExp(
  String.raw`(?<![^\0\t\n\f\r ()<>\[\]{}\/%])(?:(\d{1,10})[\0\t\n\f\r ]+(\d{1,5})[\0\t\n\f\r ]+obj|trailer)(?=${NOT_REGULAR}|$)`,
  'g',
);

interface StreamSink {
  num: number;
  gen: number;
  dict: PdfDict;
  order: number;
  parts: Buffer[];
  size: number;
}

interface ObjectStream {
  num: number;
  gen: number;
  dict: PdfDict;
  order: number;
  raw: Buffer;
  problem: string;
}

type State =
  | { kind: 'header' }
  | { kind: 'scan' }
  // The object's header starts at `pos`; its value `headerLength` bytes later.
  | { kind: 'object'; num: number; gen: number; headerLength: number }
  | { kind: 'trailer'; headerLength: number }
  | { kind: 'stream-body'; remaining: number; sink?: StreamSink }
  | { kind: 'stream-end' }
  | { kind: 'stream-seek'; sink?: StreamSink };

/**
 * Counts the pages of a PDF in one forward pass over its bytes, holding only the object being read.
 *
 * It reads every object's dictionary (skipping stream data by /Length), including the objects packed in
 * FlateDecode object streams, and keeps the newest definition of each Catalog, Pages and Page object, as a
 * reader repairing a damaged file would. The count is, in order of preference: /Count of the page tree named by
 * the trailer's /Root (or the newest Catalog); /Count of the newest Pages node without /Parent; the number of
 * distinct Page objects.
 *
 * Encrypted PDFs are read when they open with the empty user password (standard security handler, RC4 or AES,
 * revisions 2–6): only object streams need decrypting, since names and numbers are never encrypted.
 *
 * Limits: the cross-reference table is not used, so an object freed by an incremental update still counts if it
 * is a page tree root or a page and nothing newer replaced it; a /Length larger than the real stream swallows the
 * objects after it; object streams with filters other than FlateDecode (or with predictors) cannot be read, nor
 * can those of a PDF that needs a user password (UNSUPPORTED, unless the page tree is outside them). Memory is
 * bounded by one object's dictionary (8 MiB), one object stream (16 MiB, 64 MiB inflated), encrypted object
 * streams awaiting the key (32 MiB), and a few numbers per Page, Pages and integer object.
 */
export class PdfPageCounter {
  private buf = Buffer.alloc(0);
  private pos = 0;
  private base = 0; // file offset of buf[0]
  private text: string | undefined; // latin1 view of buf for the token search
  private readonly pending: Buffer[] = [];
  private pendingLength = 0;
  private wantBytes = 0; // unread bytes needed before it is worth trying again
  private state: State = { kind: 'header' };
  private ended = false;

  private readonly catalogs = new Map<number, { pages: number | undefined; order: number }>();
  private readonly pageTreeNodes = new Map<number, { count: PdfValue | undefined; hasParent: boolean; order: number }>();
  private readonly pageObjects = new Set<number>();
  private readonly integers = new Map<number, number>(); // for indirect /Count and /Length
  private readonly securityDicts = new Map<number, PdfDict>();
  private readonly newestAt = new Map<number, number>(); // file offset of each object number's newest definition
  private rootRef: number | undefined;
  private encryptRef: number | undefined;
  private encryptDict: PdfDict | undefined;
  private fileId: Buffer | undefined;
  private decryption: PdfDecryptorResult | undefined;
  private readonly deferred: ObjectStream[] = [];
  private deferredBytes = 0;
  private readonly unreadObjectStreams: string[] = [];

  write(chunk: Uint8Array): void {
    if (this.ended) throw new Error('PdfPageCounter.write after end');
    const bytes = asBytes(chunk);
    if (bytes.length === 0) return;
    this.pending.push(bytes);
    this.pendingLength += bytes.length;
    if (this.buf.length - this.pos + this.pendingLength >= this.wantBytes) this.drain(false);
  }

  end(): PdfPageCountResult {
    if (!this.ended) {
      this.ended = true;
      this.drain(true);
      this.readDeferredObjectStreams();
    }
    return this.result();
  }

  private drain(eof: boolean): void {
    if (this.pendingLength > 0) {
      const unread = this.buf.subarray(this.pos);
      this.base += this.pos;
      this.buf = Buffer.concat([unread, ...this.pending]);
      this.pos = 0;
      this.text = undefined;
      this.pending.length = 0;
      this.pendingLength = 0;
    }
    this.wantBytes = 0;
    while (this.step(eof)) {
      // each step consumes input or changes state; it returns false when it needs more bytes
    }
  }

  private step(eof: boolean): boolean {
    switch (this.state.kind) {
      case 'header':
        return this.readHeader(eof);
      case 'scan':
        return this.scan(eof);
      case 'object':
      case 'trailer':
        return this.readObject(this.state, eof);
      case 'stream-body':
        return this.readStreamBody(this.state, eof);
      case 'stream-end':
        return this.checkStreamEnd(eof);
      case 'stream-seek':
        return this.seekStreamEnd(this.state, eof);
    }
  }

  private readHeader(eof: boolean): boolean {
    if (this.buf.length < HEADER_WINDOW && !eof) return this.waitFor(HEADER_WINDOW);
    if (this.buf.length === 0) throw new MediaError('CORRUPT_PDF', 'The PDF is empty');
    if (this.buf.subarray(0, HEADER_WINDOW).indexOf('%PDF-', 0, 'latin1') < 0) {
      throw new MediaError('CORRUPT_PDF', 'The file is not a PDF: no %PDF- header in its first 1024 bytes');
    }
    this.state = { kind: 'scan' };
    return true;
  }

  private scan(eof: boolean): boolean {
    this.text ??= this.buf.toString('latin1');
    TOKEN.lastIndex = this.pos;
    const match = TOKEN.exec(this.text);
    if (!match) {
      this.pos = eof ? this.buf.length : Math.max(this.pos, this.buf.length - SCAN_TAIL);
      return eof ? false : this.waitFor(this.buf.length - this.pos + 1);
    }
    const end = match.index + match[0].length;
    // `obj` at the very end might be the start of a longer word: wait for the next byte.
    if (end >= this.buf.length && !eof) {
      this.pos = match.index;
      return this.waitFor(this.buf.length - this.pos + 1);
    }
    this.pos = match.index;
    const headerLength = match[0].length;
    this.state =
      match[1] === undefined
        ? { kind: 'trailer', headerLength }
        : { kind: 'object', num: Number(match[1]), gen: Number(match[2]), headerLength };
    return true;
  }

  private readObject(state: Extract<State, { kind: 'object' | 'trailer' }>, eof: boolean): boolean {
    const valueAt = this.pos + state.headerLength;
    const parser = new PdfObjectParser(this.buf, valueAt, eof);
    const order = this.base + this.pos;
    try {
      const value = parser.parseValue();
      if (state.kind === 'trailer') {
        if (isDict(value)) this.noteTrailer(value);
        this.pos = parser.pos;
        this.state = { kind: 'scan' };
        return true;
      }
      parser.skipWhitespace();
      const keywordAt = parser.pos;
      const keyword = parser.peek() === -1 ? '' : parser.readKeyword();
      this.record(state.num, value, order);
      if (keyword === 'stream' && isDict(value)) {
        parser.pos = this.streamDataStart(parser);
        this.pos = parser.pos;
        this.state = this.streamState(state.num, state.gen, value, order);
      } else {
        // A missing `endobj` is tolerated: carry on from whatever follows the value.
        this.pos = keyword === 'endobj' ? parser.pos : keywordAt;
        this.state = { kind: 'scan' };
      }
      return true;
    } catch (error) {
      if (error instanceof PdfIncompleteError) {
        const held = this.buf.length - this.pos;
        if (held <= MAX_OBJECT_HEAD) return this.waitFor(held * 2);
      } else if (!(error instanceof PdfSyntaxError)) {
        throw error;
      }
      // Unreadable or oversized: skip its header and look for the next object.
      this.pos = valueAt;
      this.state = { kind: 'scan' };
      return true;
    }
  }

  private streamDataStart(parser: PdfObjectParser): number {
    // `stream` is followed by CRLF or LF (a lone CR is tolerated) before the data.
    const first = parser.byteAt(parser.pos);
    if (first === 0x0d) return parser.byteAt(parser.pos + 1) === 0x0a ? parser.pos + 2 : parser.pos + 1;
    return first === 0x0a ? parser.pos + 1 : parser.pos;
  }

  private streamState(num: number, gen: number, dict: PdfDict, order: number): State {
    const sink: StreamSink | undefined =
      nameOf(dict.get('Type')) === 'ObjStm' ? { num, gen, dict, order, parts: [], size: 0 } : undefined;
    const lengthValue = dict.get('Length');
    const length = lengthValue instanceof PdfRef ? this.integers.get(lengthValue.num) : lengthValue;
    if (typeof length === 'number' && Number.isSafeInteger(length) && length >= 0) {
      return { kind: 'stream-body', remaining: length, sink };
    }
    // An indirect /Length defined later in the file (common) or none at all: find `endstream` instead.
    return { kind: 'stream-seek', sink };
  }

  private readStreamBody(state: Extract<State, { kind: 'stream-body' }>, eof: boolean): boolean {
    const n = Math.min(state.remaining, this.buf.length - this.pos);
    if (state.sink) this.collect(state.sink, this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    state.remaining -= n;
    if (state.remaining > 0 && !eof) return this.waitFor(1);
    if (state.sink) this.readObjectStream(state.sink);
    this.state = state.remaining > 0 ? { kind: 'scan' } : { kind: 'stream-end' };
    return !eof || this.pos < this.buf.length;
  }

  private checkStreamEnd(eof: boolean): boolean {
    let at = this.pos;
    while (at < this.buf.length && (this.buf[at] === 0x0d || this.buf[at] === 0x0a || this.buf[at] === 0x20)) at++;
    if (at + ENDSTREAM.length > this.buf.length && !eof) return this.waitFor(this.buf.length - this.pos + ENDSTREAM.length + 1);
    if (this.buf.subarray(at, at + ENDSTREAM.length).equals(ENDSTREAM)) {
      this.pos = at + ENDSTREAM.length;
      this.state = { kind: 'scan' };
    } else {
      // /Length was too short: the rest of the data is still ahead, so skip to its `endstream`.
      this.state = { kind: 'stream-seek' };
    }
    return true;
  }

  private seekStreamEnd(state: Extract<State, { kind: 'stream-seek' }>, eof: boolean): boolean {
    const found = this.buf.indexOf(ENDSTREAM, this.pos);
    if (found < 0) {
      const keepFrom = eof ? this.buf.length : Math.max(this.pos, this.buf.length - ENDSTREAM.length + 1);
      if (state.sink) this.collect(state.sink, this.buf.subarray(this.pos, keepFrom));
      this.pos = keepFrom;
      if (!eof) return this.waitFor(this.buf.length - this.pos + 1);
      if (state.sink) this.readObjectStream(state.sink);
      return false;
    }
    if (state.sink) {
      let dataEnd = found;
      // The EOL before `endstream` is not part of the data.
      if (dataEnd > this.pos && this.buf[dataEnd - 1] === 0x0a) dataEnd--;
      if (dataEnd > this.pos && this.buf[dataEnd - 1] === 0x0d) dataEnd--;
      this.collect(state.sink, this.buf.subarray(this.pos, dataEnd));
      this.readObjectStream(state.sink);
    }
    this.pos = found + ENDSTREAM.length;
    this.state = { kind: 'scan' };
    return true;
  }

  private collect(sink: StreamSink, bytes: Buffer): void {
    if (sink.size > MAX_OBJECT_STREAM) return;
    sink.size += bytes.length;
    sink.parts.push(bytes);
  }

  private readObjectStream(sink: StreamSink): void {
    if (sink.size > MAX_OBJECT_STREAM) {
      this.unreadObjectStreams.push('an object stream is larger than 16 MiB');
      return;
    }
    const stream: ObjectStream = { ...sink, raw: Buffer.concat(sink.parts), problem: '' };
    const outcome = this.unpackObjectStream(stream, stream.raw);
    if (outcome === 'ok') return;
    if (outcome.retry && this.deferredBytes + stream.raw.length <= MAX_DEFERRED_OBJECT_STREAMS) {
      stream.problem = outcome.problem;
      this.deferred.push(stream);
      this.deferredBytes += stream.raw.length;
    } else {
      this.unreadObjectStreams.push(outcome.problem);
    }
  }

  private readDeferredObjectStreams(): void {
    if (this.deferred.length === 0) return;
    const encrypt = this.encryptDict ?? (this.encryptRef === undefined ? undefined : this.securityDicts.get(this.encryptRef));
    if (encrypt) this.decryption = createStandardDecryptor(encrypt, this.fileId);
    else if (this.encryptRef !== undefined) {
      // The trailer says the file is encrypted, but its encryption dictionary was never seen.
      this.decryption = { ok: false, reason: 'unsupported', detail: 'its encryption dictionary is missing' };
    }
    for (const stream of this.deferred) {
      if (!this.decryption?.ok) {
        this.unreadObjectStreams.push(stream.problem);
        continue;
      }
      let plain: Buffer;
      try {
        plain = this.decryption.decrypt(stream.num, stream.gen, stream.raw);
      } catch {
        this.unreadObjectStreams.push('an object stream could not be decrypted');
        continue;
      }
      const outcome = this.unpackObjectStream(stream, plain);
      if (outcome !== 'ok') this.unreadObjectStreams.push(outcome.problem);
    }
    this.deferred.length = 0;
  }

  // Records the objects packed in an object stream; `retry` when decrypting first might help.
  private unpackObjectStream(stream: ObjectStream, raw: Buffer): 'ok' | { problem: string; retry: boolean } {
    const data = this.decodeObjectStream(stream.dict, raw);
    if (typeof data === 'object' && !Buffer.isBuffer(data)) return data;
    const count = stream.dict.get('N');
    const first = stream.dict.get('First');
    if (typeof count !== 'number' || typeof first !== 'number') return { problem: 'an object stream has no /N or /First', retry: false };
    let recorded = 0;
    try {
      // The stream starts with N pairs "objectNumber offset", offsets relative to /First.
      const header = new PdfObjectParser(data, 0, true);
      const entries: Array<[number, number]> = [];
      for (let i = 0; i < count; i++) {
        const num = header.parseValue();
        const offset = header.parseValue();
        if (typeof num !== 'number' || typeof offset !== 'number') throw new PdfSyntaxError('Bad object stream header');
        entries.push([num, offset]);
      }
      for (const [num, offset] of entries) {
        try {
          this.record(num, new PdfObjectParser(data, first + offset, true).parseValue(), stream.order);
          recorded++;
        } catch (error) {
          if (!(error instanceof PdfSyntaxError)) throw error;
        }
      }
    } catch (error) {
      if (!(error instanceof PdfSyntaxError)) throw error;
    }
    // Garbage that happened to inflate (encrypted data can) reads as no objects at all.
    return recorded > 0 || count === 0 ? 'ok' : { problem: 'an object stream holds no readable objects', retry: true };
  }

  private decodeObjectStream(dict: PdfDict, raw: Buffer): Buffer | { problem: string; retry: boolean } {
    const filterValue = dict.get('Filter');
    const filters = (Array.isArray(filterValue) ? filterValue : filterValue === undefined ? [] : [filterValue]).map(nameOf);
    if (filters.length === 0) return raw;
    const params = dict.get('DecodeParms');
    const predictor = isDict(params) ? params.get('Predictor') : undefined;
    if (filters.length > 1 || filters[0] !== 'FlateDecode' || (typeof predictor === 'number' && predictor > 1)) {
      return { problem: `an object stream uses an unsupported filter (${filters.join(', ')})`, retry: false };
    }
    try {
      // SYNC_FLUSH: a stream missing its final block (truncated file) still yields what it has.
      return inflateSync(raw, {
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
        maxOutputLength: MAX_OBJECT_STREAM_INFLATED,
      });
    } catch {
      return { problem: 'an object stream could not be decompressed', retry: true };
    }
  }

  private record(num: number, value: PdfValue, order: number): void {
    // The newest definition of an object number replaces any older one (incremental updates append); an
    // object stream read late (after decryption) must not replace what came after it in the file.
    if ((this.newestAt.get(num) ?? -1) > order) return;
    this.newestAt.set(num, order);
    this.catalogs.delete(num);
    this.pageTreeNodes.delete(num);
    this.pageObjects.delete(num);
    this.integers.delete(num);
    this.securityDicts.delete(num);
    if (typeof value === 'number') {
      if (Number.isSafeInteger(value)) this.integers.set(num, value);
      return;
    }
    if (!isDict(value)) return;
    const type = nameOf(value.get('Type'));
    if (type === 'XRef') {
      // A cross-reference stream's dictionary is the trailer of files that use one.
      this.noteTrailer(value);
    } else if (type === 'Catalog') {
      const pages = value.get('Pages');
      this.catalogs.set(num, { pages: pages instanceof PdfRef ? pages.num : undefined, order });
    } else if (type === 'Pages' || (type === undefined && value.has('Kids') && value.has('Count'))) {
      this.pageTreeNodes.set(num, { count: value.get('Count'), hasParent: value.has('Parent'), order });
    } else if (type === 'Page') {
      this.pageObjects.add(num);
    } else if (value.has('Filter') && value.has('O') && value.has('U')) {
      this.securityDicts.set(num, value);
    }
  }

  private noteTrailer(dict: PdfDict): void {
    const root = dict.get('Root');
    if (root instanceof PdfRef) this.rootRef = root.num;
    const encrypt = dict.get('Encrypt');
    if (encrypt instanceof PdfRef) this.encryptRef = encrypt.num;
    else if (isDict(encrypt)) this.encryptDict = encrypt;
    const id = dict.get('ID');
    if (Array.isArray(id) && id[0] instanceof PdfString) this.fileId = id[0].bytes();
  }

  private waitFor(unreadBytes: number): false {
    this.wantBytes = unreadBytes;
    return false;
  }

  private result(): PdfPageCountResult {
    const catalog =
      (this.rootRef === undefined ? undefined : this.catalogs.get(this.rootRef)) ?? newest(this.catalogs.values());
    const rootCount = catalog?.pages === undefined ? undefined : this.countOf(this.pageTreeNodes.get(catalog.pages)?.count);
    if (rootCount !== undefined) return { pages: rootCount, method: 'page-tree' };

    const orphan = newest([...this.pageTreeNodes.values()].filter((node) => !node.hasParent));
    const orphanCount = this.countOf(orphan?.count);
    if (orphanCount !== undefined) return { pages: orphanCount, method: 'orphan-page-tree' };

    if (this.pageObjects.size > 0) return { pages: this.pageObjects.size, method: 'page-objects' };

    if (this.decryption && !this.decryption.ok) {
      const why = this.decryption.reason === 'password' ? 'needs a password to open' : `is encrypted in a way not supported here (${this.decryption.detail})`;
      throw new MediaError('UNSUPPORTED', `The PDF ${why}, so its pages cannot be counted`);
    }
    if (this.unreadObjectStreams.length > 0) {
      const reason = this.unreadObjectStreams[0]!;
      throw new MediaError(reason.includes('unsupported') ? 'UNSUPPORTED' : 'CORRUPT_PDF', `No page tree found in the PDF: ${reason}`);
    }
    throw new MediaError('CORRUPT_PDF', 'No page tree found in the PDF: it is damaged or truncated');
  }

  private countOf(count: PdfValue | undefined): number | undefined {
    const value = count instanceof PdfRef ? this.integers.get(count.num) : count;
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
}

function newest<T extends { order: number }>(items: Iterable<T>): T | undefined {
  let best: T | undefined;
  for (const item of items) if (!best || item.order >= best.order) best = item;
  return best;
}

// Counts the pages of a PDF read from a stream (or any async iterable of byte chunks) or a buffer.
export async function countPdfPages(input: AsyncIterable<unknown> | Uint8Array): Promise<PdfPageCountResult> {
  const counter = new PdfPageCounter();
  if (input instanceof Uint8Array) {
    counter.write(input);
  } else {
    for await (const chunk of input) counter.write(asBytes(chunk));
  }
  return counter.end();
}
