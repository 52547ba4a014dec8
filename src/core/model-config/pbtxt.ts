import type { Enum, Field, Type } from 'protobufjs';
import {
  integerProblem,
  isFloatType,
  isIntegerType,
  jsonInteger,
  kindOf,
  type ScalarOrMessage,
} from './model-config-proto';

/** A protobuf text-format error, at the line and column (1-based) where it was found. */
export class TextFormatError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${reason}`);
  }
}

type TokenKind = 'identifier' | 'number' | 'string' | 'symbol' | 'end';

interface Token {
  kind: TokenKind;
  /** The text as written; for a string, its decoded value. */
  text: string;
  /** A string's bytes: escapes such as \303\251 are bytes, which UTF-8 then decodes. */
  bytes?: Buffer;
  line: number;
  column: number;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '\\': '\\',
  "'": "'",
  '"': '"',
  '?': '?',
};

/** Splits protobuf text format into tokens, dropping whitespace and `#` comments. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const fail = (reason: string, at = i): never => {
    throw new TextFormatError(reason, line, at - lineStart + 1);
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const start = { line, column: i - lineStart + 1 };
    if (c === '"' || c === "'") {
      const bytes: number[] = [];
      const append = (text: string) => bytes.push(...Buffer.from(text, 'utf8'));
      const from = i;
      i++;
      for (;;) {
        if (i >= text.length || text[i] === '\n') fail('unterminated string', from);
        const d = text[i];
        if (d === c) break;
        if (d !== '\\') {
          append(d);
          i++;
          continue;
        }
        const e = text[i + 1];
        if (e in SIMPLE_ESCAPES) {
          append(SIMPLE_ESCAPES[e]);
          i += 2;
        } else if (e === 'x' || e === 'X') {
          const hex = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 2))?.[0];
          if (!hex) fail('\\x must be followed by hex digits');
          bytes.push(parseInt(hex!, 16));
          i += 2 + hex!.length;
        } else if (/[0-7]/.test(e)) {
          const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1))![0];
          bytes.push(parseInt(octal, 8) & 0xff);
          i += 1 + octal.length;
        } else if (e === 'u' || e === 'U') {
          const length = e === 'u' ? 4 : 8;
          const hex = text.slice(i + 2, i + 2 + length);
          if (!new RegExp(`^[0-9a-fA-F]{${length}}$`).test(hex))
            fail(`\\${e} must be followed by ${length} hex digits`);
          append(String.fromCodePoint(parseInt(hex, 16)));
          i += 2 + length;
        } else {
          fail(`unknown escape \\${e ?? ''}`);
        }
      }
      i++;
      const raw = Buffer.from(bytes);
      tokens.push({ kind: 'string', text: raw.toString('utf8'), bytes: raw, ...start });
      continue;
    }
    const number = /^-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fF]?)/.exec(
      text.slice(i),
    );
    if (number && (c !== '-' || number[0].length > 1)) {
      tokens.push({ kind: 'number', text: number[0], ...start });
      i += number[0].length;
      continue;
    }
    const word = /^-?[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i));
    if (word) {
      tokens.push({ kind: 'identifier', text: word[0], ...start });
      i += word[0].length;
      continue;
    }
    if ('{}[]<>:,;'.includes(c)) {
      tokens.push({ kind: 'symbol', text: c, ...start });
      i++;
      continue;
    }
    fail(`unexpected character '${c}'`);
  }
  tokens.push({ kind: 'end', text: 'end of file', line, column: i - lineStart + 1 });
  return tokens;
}

const CLOSING: Record<string, string> = { '{': '}', '<': '>' };

const describe = (token: Token) =>
  token.kind === 'end'
    ? 'the end of the file'
    : token.kind === 'string'
      ? `the string ${JSON.stringify(token.text)}`
      : `'${token.text}'`;

/** A message in Triton's JSON form: snake_case fields, enums by name, 64-bit integers as numbers. */
type JsonMessage = Record<string, unknown>;

/**
 * Parses protobuf text format (what `config.pbtxt` holds) into the message's JSON form, driven
 * by its descriptor: the descriptor says which fields repeat, which are enums and which are
 * messages, which a descriptor-less parser cannot tell from one occurrence. Fields the
 * descriptor does not know are skipped and returned in `unknown` (dotted paths), for the caller
 * to warn about.
 */
export function parseTextFormat(
  text: string,
  type: Type,
): { message: JsonMessage; unknown: string[] } {
  return new TextFormatParser(tokenize(text)).parse(type);
}

class TextFormatParser {
  private position = 0;
  private readonly unknown: string[] = [];

  constructor(private readonly tokens: Token[]) {}

  parse(type: Type): { message: JsonMessage; unknown: string[] } {
    const message = this.fields(type, 'end', '');
    return { message, unknown: this.unknown };
  }

  private get next(): Token {
    return this.tokens[this.position];
  }

  private take(): Token {
    return this.tokens[this.position++];
  }

  private fail(reason: string, token = this.next): never {
    throw new TextFormatError(reason, token.line, token.column);
  }

  private isSymbol(symbol: string): boolean {
    return this.next.kind === 'symbol' && this.next.text === symbol;
  }

  private skipSymbol(symbol: string): boolean {
    if (!this.isSymbol(symbol)) return false;
    this.position++;
    return true;
  }

  private expectSymbol(symbol: string, what: string): void {
    if (!this.skipSymbol(symbol))
      this.fail(`expected '${symbol}' ${what}, got ${describe(this.next)}`);
  }

  /** The fields of one message, up to `closing` ('}', '>' or the end of the file). */
  private fields(type: Type, closing: string, path: string): JsonMessage {
    const message: JsonMessage = {};
    const oneofs = new Map<string, string>();
    for (;;) {
      const token = this.next;
      if (closing === 'end' ? token.kind === 'end' : this.isSymbol(closing)) {
        this.position++;
        return message;
      }
      if (token.kind === 'end')
        this.fail(`expected '${closing}' to close the message, got the end of the file`);
      if (token.kind !== 'identifier' && !this.isSymbol('['))
        this.fail(`expected a field name, got ${describe(token)}`);
      if (token.kind !== 'identifier') {
        this.skipExtension(path);
      } else {
        this.position++;
        const field = type.fields[token.text];
        const fieldPath = path ? `${path}.${token.text}` : token.text;
        if (!field) {
          this.unknown.push(fieldPath);
          this.skipValue();
        } else {
          const oneof = field.partOf?.name;
          if (oneof !== undefined) {
            const chosen = oneofs.get(oneof);
            if (chosen !== undefined && chosen !== field.name)
              this.fail(
                `'${field.name}' and '${chosen}' are both given; '${oneof}' takes one of them`,
                token,
              );
            oneofs.set(oneof, field.name);
          }
          this.field(field, message, token, fieldPath);
        }
      }
      // Separators between fields are optional.
      if (!this.skipSymbol(',')) this.skipSymbol(';');
    }
  }

  private field(field: Field, message: JsonMessage, nameToken: Token, path: string): void {
    const kind = kindOf(field);
    if (kind.kind === 'map') {
      const map = (message[field.name] ??= {}) as JsonMessage;
      this.values(kind.kind, () => {
        const [key, value] = this.mapEntry(kind.key, kind.value, path);
        map[String(key)] = value;
      });
      return;
    }
    if (!field.repeated) {
      if (field.name in message)
        this.fail(`'${field.name}' is given twice; it takes one value`, nameToken);
      let value: unknown;
      const count = this.values(kind.kind, () => (value = this.value(kind, path)), false);
      if (count !== 1) this.fail(`'${field.name}' takes one value, not a list`, nameToken);
      message[field.name] = value;
      return;
    }
    const list = (message[field.name] ??= []) as unknown[];
    this.values(kind.kind, () => list.push(this.value(kind, `${path}[${list.length}]`)));
  }

  /**
   * Reads `: value`, `{...}`, `: {...}`, or a list `[a, b]` (`: [a, b]`), calling `read` for each
   * value; returns how many were read (-1 for a list, which a singular field refuses).
   */
  private values(kind: string, read: () => void, listAllowed = true): number {
    const colon = this.skipSymbol(':');
    if (!colon && kind !== 'message' && kind !== 'map')
      this.fail(`expected ':' after the field name, got ${describe(this.next)}`);
    if (!this.isSymbol('[')) {
      read();
      return 1;
    }
    if (!listAllowed) return -1;
    this.position++;
    if (this.skipSymbol(']')) return 0;
    let count = 0;
    do {
      read();
      count++;
    } while (this.skipSymbol(','));
    this.expectSymbol(']', 'to close the list');
    return count;
  }

  private value(kind: ScalarOrMessage, path: string): unknown {
    if (kind.kind === 'message') return this.message(kind.type, path);
    if (kind.kind === 'enum') return this.enumValue(kind.type);
    return this.scalar(kind.type);
  }

  private message(type: Type, path: string): JsonMessage {
    const open = this.next;
    if (!this.isSymbol('{') && !this.isSymbol('<'))
      this.fail(`expected '{' to open a ${type.name} message, got ${describe(open)}`);
    this.position++;
    return this.fields(type, CLOSING[open.text], path);
  }

  private mapEntry(keyType: string, value: ScalarOrMessage, path: string): [unknown, unknown] {
    const open = this.next;
    if (!this.isSymbol('{') && !this.isSymbol('<'))
      this.fail(`expected '{' to open a map entry (key and value), got ${describe(open)}`);
    this.position++;
    let key: unknown;
    let entryValue: unknown;
    while (!this.skipSymbol(CLOSING[open.text])) {
      const name = this.take();
      if (name.kind !== 'identifier' || (name.text !== 'key' && name.text !== 'value'))
        this.fail(`expected 'key' or 'value' in a map entry, got ${describe(name)}`, name);
      if (name.text === 'key') {
        this.expectSymbol(':', "after 'key'");
        key = this.scalar(keyType);
      } else {
        const isMessage = value.kind === 'message';
        if (!this.skipSymbol(':') && !isMessage)
          this.fail(`expected ':' after 'value', got ${describe(this.next)}`);
        entryValue = this.value(value, `${path}[${JSON.stringify(key)}]`);
      }
      if (!this.skipSymbol(',')) this.skipSymbol(';');
    }
    // Without a key the entry has the key type's default, as protobuf reads it ("" for strings).
    return [
      key ?? (keyType === 'string' ? '' : 0),
      entryValue ?? (value.kind === 'message' ? {} : undefined),
    ];
  }

  private enumValue(type: Enum): string {
    const token = this.take();
    if (token.kind === 'identifier' && token.text in type.values) return token.text;
    if (token.kind === 'number' && /^\d+$/.test(token.text)) {
      const name = type.valuesById[Number(token.text)];
      if (name !== undefined) return name;
    }
    const names = Object.keys(type.values);
    return this.fail(
      `${describe(token)} is not a ${type.name}; expected one of ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''}`,
      token,
    );
  }

  private scalar(type: string): unknown {
    const token = this.take();
    if (type === 'string' || type === 'bytes') {
      if (token.kind !== 'string')
        this.fail(`expected a quoted string, got ${describe(token)}`, token);
      const parts = [token.bytes!];
      // Adjacent strings are one, as in C.
      while (this.next.kind === 'string') parts.push(this.take().bytes!);
      const value = Buffer.concat(parts);
      return type === 'bytes' ? value.toString('base64') : value.toString('utf8');
    }
    if (type === 'bool') {
      if (['true', 'True', 't', '1'].includes(token.text) && token.kind !== 'string') return true;
      if (['false', 'False', 'f', '0'].includes(token.text) && token.kind !== 'string')
        return false;
      return this.fail(`expected true or false, got ${describe(token)}`, token);
    }
    if (isFloatType(type)) {
      if (token.kind === 'identifier' && /^-?(inf|infinity|nan)$/i.test(token.text)) {
        return /nan/i.test(token.text)
          ? 'NaN'
          : token.text.startsWith('-')
            ? '-Infinity'
            : 'Infinity';
      }
      if (token.kind !== 'number')
        this.fail(`expected a number (${type}), got ${describe(token)}`, token);
      return Number(token.text.replace(/[fF]$/, ''));
    }
    if (isIntegerType(type)) {
      if (token.kind !== 'number' || /[.eEfF]/.test(token.text.replace(/^-?0[xX].*/, '')))
        this.fail(`expected an integer (${type}), got ${describe(token)}`, token);
      const negative = token.text.startsWith('-');
      const digits = negative ? token.text.slice(1) : token.text;
      const magnitude = BigInt(digits);
      const value = negative ? -magnitude : magnitude;
      const problem = integerProblem(value, type);
      if (problem) this.fail(problem, token);
      return jsonInteger(value);
    }
    return this.fail(`fields of type ${type} are not supported`, token);
  }

  /** An extension or Any field (`[type.url] { ... }`): model_config.proto has none; skipped. */
  private skipExtension(path: string): void {
    const open = this.take();
    let name = '';
    while (!this.isSymbol(']')) {
      if (this.next.kind === 'end') this.fail("expected ']' to close the extension name", open);
      name += this.take().text;
    }
    this.position++;
    this.unknown.push(path ? `${path}.[${name}]` : `[${name}]`);
    this.skipValue();
  }

  /** Skips the value of a field the descriptor does not know, whatever its shape. */
  private skipValue(): void {
    const colon = this.skipSymbol(':');
    if (this.isSymbol('{') || this.isSymbol('<')) {
      this.skipBlock();
      return;
    }
    if (this.isSymbol('[')) {
      this.skipBlock();
      return;
    }
    if (!colon) this.fail(`expected ':' or '{' after the field name, got ${describe(this.next)}`);
    const token = this.take();
    if (token.kind === 'symbol' || token.kind === 'end')
      this.fail(`expected a value, got ${describe(token)}`, token);
    if (token.kind === 'string') while (this.next.kind === 'string') this.position++;
  }

  /** Skips a bracketed block ({...}, <...> or [...]), nested ones included. */
  private skipBlock(): void {
    const open = this.take();
    const stack = [open.text === '[' ? ']' : CLOSING[open.text]];
    while (stack.length > 0) {
      const token = this.take();
      if (token.kind === 'end')
        this.fail(`expected '${stack.at(-1)}' to close the value opened here`, open);
      if (token.kind !== 'symbol') continue;
      if (token.text === '{' || token.text === '<') stack.push(CLOSING[token.text]);
      else if (token.text === '[') stack.push(']');
      else if (token.text === stack.at(-1)) stack.pop();
      else if ('}>]'.includes(token.text)) this.fail(`unexpected '${token.text}'`, token);
    }
  }
}
