/**
 * A parser for the small YAML subset that kubeconfig files (and so k0s join
 * tokens) use: block mappings, block sequences (also "- key: value" items and
 * sequences at the same indent as their key), plain/single/double-quoted
 * scalars, empty flow collections `{}` / `[]`, flow lists of scalars, and
 * comments. Anchors, tags, multi-document streams and block scalars (`|`, `>`)
 * are refused with a clear error instead of being guessed at.
 *
 * Scalars stay strings except `null`/`~` (null) and `true`/`false` (booleans).
 */

export class YamlSubsetError extends Error {
  constructor(message: string, line?: number) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.name = 'YamlSubsetError';
  }
}

export type YamlValue = string | boolean | null | YamlValue[] | { [k: string]: YamlValue };

interface Line {
  no: number; // 1-based
  indent: number;
  text: string; // without indentation and trailing comment/space
}

function stripComment(s: string): string {
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s:\-[{,]/.test(s[i - 1] as string)) quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(s[i - 1] as string))) {
      return s.slice(0, i);
    }
  }
  return s;
}

function toLines(text: string): Line[] {
  const out: Line[] = [];
  const raw = text.replace(/\r\n/g, '\n').split('\n');
  for (const [i, l] of raw.entries()) {
    if (l.includes('\t') && /^\s*\t/.test(l)) throw new YamlSubsetError('tab used for indentation', i + 1);
    const body = stripComment(l).trimEnd();
    if (body.trim() === '') continue;
    if (body === '---' && out.length === 0) continue;
    if (body === '---' || body === '...') throw new YamlSubsetError('multiple YAML documents are not supported', i + 1);
    const indent = body.length - body.trimStart().length;
    out.push({ no: i + 1, indent, text: body.trimStart() });
  }
  return out;
}

function parseScalar(s: string, line: number): YamlValue {
  const t = s.trim();
  if (t === '' || t === '~' || t === 'null') return null;
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t === '{}') return {};
  if (t === '[]') return [];
  if (t.startsWith('"')) {
    if (!t.endsWith('"') || t.length < 2) throw new YamlSubsetError(`unterminated double-quoted string ${t}`, line);
    try {
      return JSON.parse(t) as string;
    } catch {
      throw new YamlSubsetError(`bad escape in double-quoted string ${t}`, line);
    }
  }
  if (t.startsWith("'")) {
    if (!t.endsWith("'") || t.length < 2) throw new YamlSubsetError(`unterminated single-quoted string ${t}`, line);
    return t.slice(1, -1).replace(/''/g, "'");
  }
  if (t.startsWith('[') && t.endsWith(']')) {
    return t
      .slice(1, -1)
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '')
      .map((x) => parseScalar(x, line));
  }
  if (t.startsWith('{')) throw new YamlSubsetError('non-empty flow mappings are not supported', line);
  if (t.startsWith('|') || t.startsWith('>')) throw new YamlSubsetError('block scalars (| or >) are not supported', line);
  if (t.startsWith('&') || t.startsWith('*') || t.startsWith('!')) throw new YamlSubsetError('anchors, aliases and tags are not supported', line);
  return t;
}

/** Split "key: value" → [key, value]; undefined when the text is not a mapping entry. */
function splitKey(text: string, line: number): [string, string] | undefined {
  let key: string;
  let rest: string;
  if (text.startsWith('"') || text.startsWith("'")) {
    const q = text[0] as string;
    let end = 1;
    while (end < text.length) {
      if (q === '"' && text[end] === '\\') end += 2;
      else if (text[end] === q) break;
      else end++;
    }
    if (end >= text.length) throw new YamlSubsetError(`unterminated quoted key in ${text}`, line);
    key = parseScalar(text.slice(0, end + 1), line) as string;
    rest = text.slice(end + 1);
    if (!/^\s*:(\s|$)/.test(rest)) return undefined;
    rest = rest.replace(/^\s*:/, '');
  } else {
    const i = text.search(/:(\s|$)/);
    if (i < 0) return undefined;
    key = text.slice(0, i).trim();
    rest = text.slice(i + 1);
  }
  return [key, rest.trim()];
}

function isSeqItem(text: string): boolean {
  return text === '-' || text.startsWith('- ');
}

class Parser {
  private readonly lines: Line[];
  private pos = 0;
  constructor(lines: Line[]) {
    this.lines = lines;
  }

  parseDocument(): YamlValue {
    if (this.lines.length === 0) throw new YamlSubsetError('the document is empty');
    const first = this.lines[0] as Line;
    const v = this.parseBlock(first.indent);
    const extra = this.lines[this.pos];
    if (extra) throw new YamlSubsetError(`unexpected content "${extra.text}" (bad indentation?)`, extra.no);
    return v;
  }

  private parseBlock(indent: number): YamlValue {
    const line = this.lines[this.pos] as Line;
    if (isSeqItem(line.text)) return this.parseSeq(indent);
    if (splitKey(line.text, line.no) === undefined) {
      // a lone scalar document (or nested scalar) on its own line
      this.pos++;
      return parseScalar(line.text, line.no);
    }
    return this.parseMap(indent);
  }

  /** The value after "key:" with nothing on the same line. */
  private nestedValue(parentIndent: number): YamlValue {
    const next = this.lines[this.pos];
    if (!next) return null;
    if (next.indent > parentIndent) return this.parseBlock(next.indent);
    if (next.indent === parentIndent && isSeqItem(next.text)) return this.parseSeq(parentIndent);
    return null;
  }

  private parseMap(indent: number): YamlValue {
    const out: Record<string, YamlValue> = {};
    while (this.pos < this.lines.length) {
      const line = this.lines[this.pos] as Line;
      if (line.indent < indent) break;
      if (line.indent > indent) throw new YamlSubsetError(`unexpected indentation before "${line.text}"`, line.no);
      if (isSeqItem(line.text)) break;
      const kv = splitKey(line.text, line.no);
      if (!kv) throw new YamlSubsetError(`expected "key: value", got "${line.text}"`, line.no);
      const [key, rest] = kv;
      if (Object.hasOwn(out, key)) throw new YamlSubsetError(`duplicate key "${key}"`, line.no);
      this.pos++;
      // defineProperty: a "__proto__" key is a plain key, never the object's prototype.
      Object.defineProperty(out, key, {
        value: rest === '' ? this.nestedValue(indent) : parseScalar(rest, line.no),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }

  private parseSeq(indent: number): YamlValue {
    const out: YamlValue[] = [];
    while (this.pos < this.lines.length) {
      const line = this.lines[this.pos] as Line;
      if (line.indent < indent) break;
      if (line.indent > indent) throw new YamlSubsetError(`unexpected indentation before "${line.text}"`, line.no);
      if (!isSeqItem(line.text)) break;
      const rest = line.text.slice(1);
      const body = rest.trimStart();
      if (body === '') {
        this.pos++;
        const next = this.lines[this.pos];
        out.push(next && next.indent > indent ? this.parseBlock(next.indent) : null);
        continue;
      }
      const innerIndent = indent + 1 + (rest.length - body.length);
      if (isSeqItem(body) || splitKey(body, line.no) !== undefined) {
        // "- key: value" starts a mapping (or "- - x" a nested sequence) at the item's column.
        this.lines[this.pos] = { no: line.no, indent: innerIndent, text: body };
        out.push(this.parseBlock(innerIndent));
      } else {
        this.pos++;
        out.push(parseScalar(body, line.no));
      }
    }
    return out;
  }
}

export function parseYamlSubset(text: string): YamlValue {
  return new Parser(toLines(text)).parseDocument();
}
