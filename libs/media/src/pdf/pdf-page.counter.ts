import { constants as zlibConstants, inflateSync } from 'node:zlib';
import { MediaError } from '../media.error';
import {
  PdfIncompleteError,
  PdfObjectParser,
  PdfRef,
  PdfSyntaxError,
  isDict,
  nameOf,
  type PdfDict,
  type PdfValue,
} from './pdf-object.parser';

/** Where the count came from: the catalog's page tree, a parentless Pages node, or the number of Page objects. */
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
  dict: PdfDict;
  order: number;
  parts: Buffer[];
  size: number;
}

type State =
  | { kind: 'header' }
  | { kind: 'scan' }
  | { kind: 'object'; num: number; start: number; valueAt: number }
  | { kind: 'trailer'; start: number; valueAt: number }
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
 * Limits: the cross-reference table is not used, so an object freed by an incremental update still counts if it
 * is a page tree root or a page and nothing newer replaced it; a /Length larger than the real stream swallows the
 * objects after it; object streams with filters other than FlateDecode (or with predictors) and object streams
 * of an encrypted PDF cannot be read (the result is then UNSUPPORTED, unless the page tree is outside them).
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
  private rootRef: number | undefined;
  private encrypted = false;
  private readonly unreadObjectStreams: string[] = [];

  write(chunk: Uint8Array | string): void {
    if (this.ended) throw new Error('PdfPageCounter.write after end');
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (bytes.length === 0) return;
    this.pending.push(bytes);
    this.pendingLength += bytes.length;
    if (this.buf.length - this.pos + this.pendingLength >= this.wantBytes) this.drain(false);
  }

  end(): PdfPageCountResult {
    if (!this.ended) {
      this.ended = true;
      this.drain(true);
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
    this.state =
      match[1] === undefined
        ? { kind: 'trailer', start: match.index, valueAt: end }
        : { kind: 'object', num: Number(match[1]), start: match.index, valueAt: end };
    return true;
  }

  private readObject(state: Extract<State, { kind: 'object' | 'trailer' }>, eof: boolean): boolean {
    const parser = new PdfObjectParser(this.buf, state.valueAt, eof);
    const order = this.base + state.start;
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
        this.state = this.streamState(value, order);
      } else {
        // A missing `endobj` is tolerated: carry on from whatever follows the value.
        this.pos = keyword === 'endobj' ? parser.pos : keywordAt;
        this.state = { kind: 'scan' };
      }
      return true;
    } catch (error) {
      if (error instanceof PdfIncompleteError) {
        const held = this.buf.length - state.start;
        if (held <= MAX_OBJECT_HEAD) return this.waitFor(held * 2);
      } else if (!(error instanceof PdfSyntaxError)) {
        throw error;
      }
      // Unreadable or oversized: skip its header and look for the next object.
      this.pos = state.valueAt;
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

  private streamState(dict: PdfDict, order: number): State {
    const sink: StreamSink | undefined =
      nameOf(dict.get('Type')) === 'ObjStm' ? { dict, order, parts: [], size: 0 } : undefined;
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
    const data = this.decodeObjectStream(sink);
    if (!data) return;
    const count = sink.dict.get('N');
    const first = sink.dict.get('First');
    if (typeof count !== 'number' || typeof first !== 'number') {
      this.unreadObjectStreams.push('an object stream has no /N or /First');
      return;
    }
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
          this.record(num, new PdfObjectParser(data, first + offset, true).parseValue(), sink.order);
        } catch (error) {
          if (!(error instanceof PdfSyntaxError)) throw error;
        }
      }
    } catch (error) {
      if (!(error instanceof PdfSyntaxError)) throw error;
      this.unreadObjectStreams.push('an object stream header is malformed');
    }
  }

  private decodeObjectStream(sink: StreamSink): Buffer | undefined {
    const raw = Buffer.concat(sink.parts);
    const filterValue = sink.dict.get('Filter');
    const filters = (Array.isArray(filterValue) ? filterValue : filterValue === undefined ? [] : [filterValue]).map(nameOf);
    if (filters.length === 0) return raw;
    const params = sink.dict.get('DecodeParms');
    const predictor = isDict(params) ? params.get('Predictor') : undefined;
    if (filters.length > 1 || filters[0] !== 'FlateDecode' || (typeof predictor === 'number' && predictor > 1)) {
      this.unreadObjectStreams.push(`an object stream uses an unsupported filter (${filters.join(', ')})`);
      return undefined;
    }
    try {
      // SYNC_FLUSH: a stream missing its final block (truncated file) still yields what it has.
      return inflateSync(raw, {
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
        maxOutputLength: MAX_OBJECT_STREAM_INFLATED,
      });
    } catch {
      this.unreadObjectStreams.push('an object stream could not be decompressed');
      return undefined;
    }
  }

  private record(num: number, value: PdfValue, order: number): void {
    // The newest definition of an object number replaces any older one (incremental updates append).
    this.catalogs.delete(num);
    this.pageTreeNodes.delete(num);
    this.pageObjects.delete(num);
    this.integers.delete(num);
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
    }
  }

  private noteTrailer(dict: PdfDict): void {
    const root = dict.get('Root');
    if (root instanceof PdfRef) this.rootRef = root.num;
    if (dict.has('Encrypt')) this.encrypted = true;
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

    if (this.unreadObjectStreams.length > 0) {
      if (this.encrypted) {
        throw new MediaError('UNSUPPORTED', 'The PDF is encrypted and keeps its page tree in compressed object streams, so its pages cannot be counted');
      }
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

/** Counts the pages of a PDF read from a stream (or any async iterable of chunks) or a buffer. */
export async function countPdfPages(input: AsyncIterable<Uint8Array | string> | Uint8Array): Promise<PdfPageCountResult> {
  const counter = new PdfPageCounter();
  if (input instanceof Uint8Array) {
    counter.write(input);
  } else {
    for await (const chunk of input) counter.write(chunk);
  }
  return counter.end();
}
