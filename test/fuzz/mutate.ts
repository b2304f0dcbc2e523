/**
 * Input generators shared by every fuzz target (fast-check arbitraries).
 *
 *   mutatedText(fixtures)   a real fixture with 1-6 mutations applied: bit/byte
 *                           flips, inserts of nasty strings, deletions,
 *                           truncation, line drops/duplication/swaps, column
 *                           swaps/drops, number replacement, CRLF, splices of
 *                           another fixture
 *   mutatedJson(docs)       a parsed JSON fixture with structural mutations:
 *                           replace a node by any JSON value, delete/duplicate
 *                           keys, wrap in an array, change a type,
 *                           `__proto__`/`constructor` keys, deep nesting
 *   lineSoup(tokens)        lines assembled from the tokens the fixtures use
 *   noise                   arbitrary strings (binary, unicode, lone surrogates)
 */
import fc from 'fast-check';

/** Strings that break parsers: separators, quotes, control characters, odd unicode, huge/odd numbers. */
export const NASTY = [
  '', ' ', '\t', '\n', '\r\n', '\r', '\0', '\x7f', '\u00a0', '\u2028', '\uFEFF', '\uD800', '\uDFFF', 'é', '🙂',
  '|', '+', '-', '--', ':', '::', ',', ',,', '=', '==', '.', '..', '/', '//', '\\', '\\040', '"', "'", '`', '#',
  '{', '}', '[', ']', '{}', '[]', 'null', 'true', 'undefined', 'NaN', '-1', '0', '-0', '1e309', '4294967296',
  '9007199254740993', '0x1f', '00', '65536', '__proto__', 'constructor', 'toString', 'hasOwnProperty',
  'MIG ', 'N/A', '[N/A]', 'Enabled', 'Disabled', '(none)', 'off', 'default', 'https://', 'http://', '%00', '%zz',
  'a'.repeat(300), '9'.repeat(40),
];

const NUMBERS = ['-1', '0', '-0', '1e309', '4294967296', '9007199254740993', 'NaN', '0x10', '1.5', '', '99999999999999999999', '00'];

export type TextMutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'replace'; at: number; text: string }
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; len: number }
  | { op: 'truncate'; at: number }
  | { op: 'dropLine'; at: number }
  | { op: 'dupLine'; at: number; times: number }
  | { op: 'swapLines'; at: number; at2: number }
  | { op: 'swapCols'; at: number; c1: number; c2: number }
  | { op: 'dropCol'; at: number; c: number }
  | { op: 'number'; at: number; value: string }
  | { op: 'crlf' }
  | { op: 'splice'; at: number; other: number; from: number; len: number };

const at = fc.nat({ max: 1_000_000 });
const insertText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

export const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at, bit: fc.nat(7) }),
  fc.record({ op: fc.constant('replace' as const), at, text: insertText }),
  fc.record({ op: fc.constant('insert' as const), at, text: insertText }),
  fc.record({ op: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('truncate' as const), at }),
  fc.record({ op: fc.constant('dropLine' as const), at }),
  fc.record({ op: fc.constant('dupLine' as const), at, times: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ op: fc.constant('swapLines' as const), at, at2: at }),
  fc.record({ op: fc.constant('swapCols' as const), at, c1: fc.nat(12), c2: fc.nat(12) }),
  fc.record({ op: fc.constant('dropCol' as const), at, c: fc.nat(12) }),
  fc.record({ op: fc.constant('number' as const), at, value: fc.constantFrom(...NUMBERS) }),
  fc.constant({ op: 'crlf' as const }),
  fc.record({ op: fc.constant('splice' as const), at, other: fc.nat(), from: at, len: fc.integer({ min: 1, max: 400 }) }),
);

/** Fields of a line: split on tabs, ", " / "," or runs of spaces (whichever the line uses), keeping the separators. */
function fields(line: string): { parts: string[]; sep: RegExp } {
  const sep = line.includes('\t') ? /(\t)/ : line.includes(',') ? /(,\s*)/ : /(\s+)/;
  return { parts: line.split(sep), sep };
}

/** Apply mutations to `text`; `others` are the fixtures a splice may take from. Deterministic. */
export function applyText(text: string, muts: readonly TextMutation[], others: readonly string[] = []): string {
  let s = text;
  for (const m of muts) {
    const lines = s.split('\n');
    const li = lines.length ? ('at' in m ? m.at : 0) % lines.length : 0;
    const pos = s.length ? ('at' in m ? m.at : 0) % (s.length + 1) : 0;
    switch (m.op) {
      case 'flip': {
        if (!s.length) break;
        const i = pos % s.length;
        s = s.slice(0, i) + String.fromCharCode((s.charCodeAt(i) ^ (1 << m.bit)) & 0xffff) + s.slice(i + 1);
        break;
      }
      case 'replace':
        s = s.slice(0, pos) + m.text + s.slice(pos + Math.max(1, m.text.length));
        break;
      case 'insert':
        s = s.slice(0, pos) + m.text + s.slice(pos);
        break;
      case 'delete':
        s = s.slice(0, pos) + s.slice(pos + m.len);
        break;
      case 'truncate':
        s = s.slice(0, pos);
        break;
      case 'dropLine':
        lines.splice(li, 1);
        s = lines.join('\n');
        break;
      case 'dupLine':
        lines.splice(li, 0, ...Array<string>(m.times).fill(lines[li] ?? ''));
        s = lines.join('\n');
        break;
      case 'swapLines': {
        const j = lines.length ? m.at2 % lines.length : 0;
        [lines[li], lines[j]] = [lines[j]!, lines[li]!];
        s = lines.join('\n');
        break;
      }
      case 'swapCols':
      case 'dropCol': {
        const line = lines[li] ?? '';
        const { parts } = fields(line);
        const idx = parts.map((_, k) => k).filter((k) => k % 2 === 0); // even slots are fields
        if (idx.length < 2) break;
        if (m.op === 'swapCols') {
          const a = idx[m.c1 % idx.length]!;
          const b = idx[m.c2 % idx.length]!;
          [parts[a], parts[b]] = [parts[b]!, parts[a]!];
        } else {
          const a = idx[m.c % idx.length]!;
          parts.splice(a, a + 1 < parts.length ? 2 : 1);
        }
        lines[li] = parts.join('');
        s = lines.join('\n');
        break;
      }
      case 'number': {
        const nums = [...s.matchAll(/\d+/g)];
        if (!nums.length) break;
        const n = nums[m.at % nums.length]!;
        s = s.slice(0, n.index) + m.value + s.slice(n.index + n[0].length);
        break;
      }
      case 'crlf':
        s = s.replace(/\r?\n/g, '\r\n');
        break;
      case 'splice': {
        const o = others.length ? others[m.other % others.length]! : s;
        const from = o.length ? m.from % o.length : 0;
        s = s.slice(0, pos) + o.slice(from, from + m.len) + s.slice(pos);
        break;
      }
    }
  }
  return s;
}

/** A fixture with 1-6 text mutations (the unmutated fixture now and then). */
export function mutatedText(fixtures: readonly string[], maxMutations = 6): fc.Arbitrary<string> {
  if (!fixtures.length) throw new Error('mutatedText: no fixtures');
  return fc
    .tuple(fc.nat(fixtures.length - 1), fc.array(textMutation, { minLength: 0, maxLength: maxMutations }))
    .map(([i, muts]) => applyText(fixtures[i]!, muts, fixtures));
}

// ---------------------------------------------------------------------------
// JSON

export type JsonMutation = {
  at: number;
  op: 'replace' | 'delete' | 'dup' | 'wrap' | 'stringify' | 'numberize' | 'null' | 'empty' | 'protoKey' | 'deep';
  value: unknown;
  key: string;
};

const jsonValue = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 1e308, 2 ** 53 + 2, '', 'x', '-1', '__proto__', [], {}, [null], { '': null }),
  },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

export const jsonMutation: fc.Arbitrary<JsonMutation> = fc.record({
  at,
  op: fc.constantFrom('replace', 'replace', 'replace', 'delete', 'delete', 'dup', 'wrap', 'stringify', 'numberize', 'null', 'empty', 'protoKey', 'deep'),
  value: jsonValue,
  key: fc.constantFrom('__proto__', 'constructor', 'toString', 'length', '', 'x', 'name', '0'),
});

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

function slots(doc: unknown): Slot[] {
  const out: Slot[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push({ parent: v, key: i });
        walk(x);
      });
    } else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        out.push({ parent: o, key: k });
        walk(o[k]);
      }
    }
  };
  walk(doc);
  return out;
}

/** Apply structural mutations to a deep copy of `doc`. Deterministic. */
export function applyJson(doc: unknown, muts: readonly JsonMutation[]): unknown {
  const box = { root: structuredClone<unknown>(doc) };
  for (const m of muts) {
    const all: Slot[] = [{ parent: box, key: 'root' }, ...slots(box.root)];
    const { parent, key } = all[m.at % all.length]!;
    const p = parent as Record<string | number, unknown>;
    const cur = p[key];
    switch (m.op) {
      case 'replace':
        p[key] = structuredClone(m.value);
        break;
      case 'delete':
        if (parent === (box as unknown)) p[key] = undefined;
        else if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete p[key];
        break;
      case 'dup':
        if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(cur));
        else if (cur && typeof cur === 'object' && !Array.isArray(cur)) p[key] = { ...cur, ...cur };
        break;
      case 'wrap':
        p[key] = [cur];
        break;
      case 'stringify':
        p[key] = JSON.stringify(cur) ?? 'undefined';
        break;
      case 'numberize':
        p[key] = typeof cur === 'string' ? Number(cur) || cur.length : typeof cur === 'number' ? String(cur) : 1;
        break;
      case 'null':
        p[key] = null;
        break;
      case 'empty':
        p[key] = Array.isArray(cur) ? [] : typeof cur === 'string' ? '' : {};
        break;
      case 'protoKey':
        if (cur && typeof cur === 'object' && !Array.isArray(cur))
          Object.defineProperty(cur, m.key, { value: structuredClone(m.value), enumerable: true, configurable: true, writable: true });
        break;
      case 'deep': {
        let v: unknown = cur;
        for (let i = 0; i < 64; i++) v = Array.isArray(cur) ? [v] : { x: v };
        p[key] = v;
        break;
      }
    }
  }
  return box.root;
}

/** A parsed JSON fixture with 1-5 structural mutations. */
export function mutatedJson(docs: readonly unknown[], maxMutations = 5): fc.Arbitrary<unknown> {
  return fc
    .tuple(fc.nat(docs.length - 1), fc.array(jsonMutation, { minLength: 1, maxLength: maxMutations }))
    .map(([i, muts]) => applyJson(docs[i], muts));
}

/** JSON text: structural mutations, then (sometimes) text mutations of the serialized form. */
export function mutatedJsonText(texts: readonly string[]): fc.Arbitrary<string> {
  const docs = texts.flatMap((t) => {
    try {
      return [JSON.parse(t) as unknown];
    } catch {
      return []; // e.g. the empty output of a command that failed: kept for the text mutations
    }
  });
  return fc.oneof(
    { weight: 3, arbitrary: mutatedJson(docs).map((d) => JSON.stringify(d) ?? '') },
    { weight: 2, arbitrary: mutatedText(texts) },
    { weight: 1, arbitrary: fc.tuple(mutatedJson(docs), fc.array(textMutation, { maxLength: 2 })).map(([d, m]) => applyText(JSON.stringify(d) ?? '', m)) },
  );
}

// ---------------------------------------------------------------------------
// soups and noise

/** The distinct whitespace-separated tokens of some texts (at most `max`). */
export function tokensOf(texts: readonly string[], max = 400): string[] {
  const set = new Set<string>();
  for (const t of texts) for (const w of t.split(/\s+/)) if (w) set.add(w);
  return [...set].slice(0, max);
}

/** Lines built from tokens and separators. */
export function lineSoup(tokens: readonly string[], seps: readonly string[] = [' ', '  ', '\t', ', ', ',', ' | ']): fc.Arbitrary<string> {
  const tok = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...tokens) }, { weight: 1, arbitrary: fc.constantFrom(...NASTY) });
  const line = fc.tuple(fc.array(tok, { maxLength: 14 }), fc.constantFrom(...seps)).map(([ts, sep]) => ts.join(sep));
  return fc.array(line, { maxLength: 24 }).map((ls) => ls.join('\n'));
}

/** Arbitrary text: binary, unicode and lone surrogates. */
export const noise: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('utf8')),
);
