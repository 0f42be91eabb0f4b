// A minimal reader for PDF object syntax (ISO 32000-1 §7.2–7.3): enough to read dictionaries of the page tree,
// trailers and object-stream headers. String contents are kept raw (no unescaping, no decryption): nothing here
// needs their text, and in an encrypted PDF they are ciphertext anyway.

export class PdfName {
  constructor(readonly value: string) {}
}

export class PdfRef {
  constructor(
    readonly num: number,
    readonly gen: number,
  ) {}
}

export class PdfString {
  constructor(
    readonly raw: Buffer,
    readonly hex: boolean,
  ) {}

  // The string's bytes with escapes (literal) or hex digits decoded (ISO 32000-1 §7.3.4).
  bytes(): Buffer {
    return this.hex ? decodeHex(this.raw) : decodeLiteral(this.raw);
  }
}

export type PdfDict = Map<string, PdfValue>;
export type PdfValue = number | boolean | null | PdfName | PdfRef | PdfString | PdfValue[] | PdfDict;

// The bytes ran out before the value did: retry once more input has arrived.
export class PdfIncompleteError extends Error {
  constructor() {
    super('Incomplete PDF object');
    this.name = 'PdfIncompleteError';
  }
}

export class PdfSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PdfSyntaxError';
  }
}

const WHITESPACE = new Uint8Array(256);
for (const c of [0x00, 0x09, 0x0a, 0x0c, 0x0d, 0x20]) WHITESPACE[c] = 1;
const DELIMITER = new Uint8Array(256);
for (const c of '()<>[]{}/%') DELIMITER[c.charCodeAt(0)] = 1;

// Nesting deeper than this is not a real document, and unbounded recursion would overflow the stack.
const MAX_DEPTH = 64;

const isRegular = (c: number): boolean => WHITESPACE[c] === 0 && DELIMITER[c] === 0;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

export class PdfObjectParser {
  // `complete`: `buf` holds everything there is, so running out of bytes is a syntax error, not PdfIncompleteError.
  constructor(
    private readonly buf: Buffer,
    public pos = 0,
    private readonly complete = false,
  ) {}

  parseValue(depth = 0): PdfValue {
    if (depth > MAX_DEPTH) throw new PdfSyntaxError('Objects nested too deeply');
    this.skipWhitespace();
    const c = this.byteAt(this.pos);
    if (c === 0x2f /* / */) return this.parseName();
    if (c === 0x28 /* ( */) return this.parseLiteralString();
    if (c === 0x5b /* [ */) return this.parseArray(depth);
    if (c === 0x3c /* < */) {
      return this.byteAt(this.pos + 1) === 0x3c ? this.parseDict(depth) : this.parseHexString();
    }
    if (isDigit(c) || c === 0x2b || c === 0x2d || c === 0x2e) return this.parseNumberOrRef();
    const word = this.readKeyword();
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (word === 'null') return null;
    throw new PdfSyntaxError(word ? `Unexpected keyword '${word}'` : `Unexpected byte 0x${c.toString(16)}`);
  }

  // Skips whitespace and `%` comments.
  skipWhitespace(): void {
    for (;;) {
      const c = this.peek();
      if (c >= 0 && WHITESPACE[c] === 1) {
        this.pos++;
      } else if (c === 0x25 /* % */) {
        for (let d = c; d !== 0x0a && d !== 0x0d && d !== -1; d = this.peek()) this.pos++;
      } else {
        return;
      }
    }
  }

  // A run of regular characters (a keyword such as `stream` or `endobj`); '' when at a delimiter.
  readKeyword(): string {
    const start = this.pos;
    while (this.pos < this.buf.length && isRegular(this.buf[this.pos]!)) this.pos++;
    // The word may go on in the next chunk.
    if (this.pos >= this.buf.length && !this.complete) throw new PdfIncompleteError();
    return this.buf.toString('latin1', start, this.pos);
  }

  // The byte at `pos`, or -1 at the end of complete input; PdfIncompleteError at the end of a partial one.
  peek(): number {
    if (this.pos < this.buf.length) return this.buf[this.pos]!;
    if (this.complete) return -1;
    throw new PdfIncompleteError();
  }

  // The byte at `index`, or PdfIncompleteError / PdfSyntaxError when the input ends before it.
  byteAt(index: number): number {
    if (index < this.buf.length) return this.buf[index]!;
    if (this.complete) throw new PdfSyntaxError('Unexpected end of data');
    throw new PdfIncompleteError();
  }

  private parseDict(depth: number): PdfDict {
    this.pos += 2;
    const dict: PdfDict = new Map();
    for (;;) {
      this.skipWhitespace();
      if (this.byteAt(this.pos) === 0x3e && this.byteAt(this.pos + 1) === 0x3e) {
        this.pos += 2;
        return dict;
      }
      if (this.byteAt(this.pos) !== 0x2f) throw new PdfSyntaxError('Dictionary key is not a name');
      const key = this.parseName().value;
      dict.set(key, this.parseValue(depth + 1));
    }
  }

  private parseArray(depth: number): PdfValue[] {
    this.pos++;
    const items: PdfValue[] = [];
    for (;;) {
      this.skipWhitespace();
      if (this.byteAt(this.pos) === 0x5d /* ] */) {
        this.pos++;
        return items;
      }
      items.push(this.parseValue(depth + 1));
    }
  }

  private parseName(): PdfName {
    this.pos++;
    const raw = this.readKeyword();
    // #xx escapes (PDF 1.2+), e.g. /A#20B is "A B".
    return new PdfName(raw.includes('#') ? raw.replace(/#([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : raw);
  }

  private parseLiteralString(): PdfString {
    const start = ++this.pos;
    let nesting = 1;
    for (;;) {
      const c = this.byteAt(this.pos++);
      if (c === 0x5c /* \ */) {
        this.byteAt(this.pos++);
      } else if (c === 0x28) {
        nesting++;
      } else if (c === 0x29 && --nesting === 0) {
        return new PdfString(this.buf.subarray(start, this.pos - 1), false);
      }
    }
  }

  private parseHexString(): PdfString {
    const start = ++this.pos;
    while (this.byteAt(this.pos) !== 0x3e) this.pos++;
    this.pos++;
    return new PdfString(this.buf.subarray(start, this.pos - 1), true);
  }

  private parseNumberOrRef(): number | PdfRef {
    const first = this.readKeyword();
    if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(first)) throw new PdfSyntaxError(`Malformed number '${first}'`);
    const value = Number(first);
    if (!/^\d+$/.test(first)) return value;

    // `num gen R` is a reference; anything else leaves the integer alone.
    const afterFirst = this.pos;
    this.skipWhitespace();
    if (this.pos > afterFirst && isDigit(this.byteAt(this.pos))) {
      const second = this.readKeyword();
      if (/^\d+$/.test(second)) {
        const afterSecond = this.pos;
        this.skipWhitespace();
        if (this.pos > afterSecond && this.byteAt(this.pos) === 0x52 /* R */) {
          this.pos++;
          const next = this.peek();
          if (next === -1 || !isRegular(next)) return new PdfRef(value, Number(second));
        }
      }
    }
    this.pos = afterFirst;
    return value;
  }
}

export function nameOf(value: PdfValue | undefined): string | undefined {
  return value instanceof PdfName ? value.value : undefined;
}

export function isDict(value: PdfValue | undefined): value is PdfDict {
  return value instanceof Map;
}

function decodeHex(raw: Buffer): Buffer {
  const digits = raw.toString('latin1').replace(/[^0-9a-fA-F]/g, '');
  // An odd final digit is followed by an implied 0.
  return Buffer.from(digits.length % 2 === 1 ? `${digits}0` : digits, 'hex');
}

const ESCAPES: Record<number, number> = { 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x62: 0x08, 0x66: 0x0c };

function decodeLiteral(raw: Buffer): Buffer {
  const out = Buffer.alloc(raw.length);
  let length = 0;
  for (let i = 0; i < raw.length; i++) {
    let c = raw[i]!;
    if (c === 0x0d) {
      // An unescaped end of line, whichever it is, reads as LF.
      if (raw[i + 1] === 0x0a) i++;
      out[length++] = 0x0a;
      continue;
    }
    if (c !== 0x5c || i + 1 >= raw.length) {
      out[length++] = c;
      continue;
    }
    c = raw[++i]!;
    if (c >= 0x30 && c <= 0x37) {
      let value = c - 0x30;
      for (let n = 0; n < 2 && raw[i + 1]! >= 0x30 && raw[i + 1]! <= 0x37; n++) value = value * 8 + raw[++i]! - 0x30;
      out[length++] = value & 0xff;
    } else if (c === 0x0d || c === 0x0a) {
      // A backslash before an end of line continues the string on the next line.
      if (c === 0x0d && raw[i + 1] === 0x0a) i++;
    } else {
      out[length++] = ESCAPES[c] ?? c;
    }
  }
  return out.subarray(0, length);
}
