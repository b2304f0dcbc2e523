/**
 * A TEST DOUBLE of how systemd reads an EnvironmentFile= (TEST CODE), written from systemd.exec(5)
 * of systemd 252 (Debian 12, the lab's guest), "EnvironmentFile=" — the rules the agent's renderer
 * (agent/k0s/unit-config.ts envFileQuote) must satisfy. Cited in docs/decisions/0140:
 *
 *  - newline-separated assignments; empty lines, lines without "=", and lines starting with ";" or
 *    "#" are ignored; leading whitespace before the name and around "=" is dropped;
 *  - unquoted value: backslash escapes like POSIX unquoted text ("\x" keeps x, "\<newline>" joins
 *    lines); leading/trailing whitespace dropped, interior kept, quotes after the first character
 *    kept verbatim;
 *  - '…': everything verbatim up to the next ', across lines, no escapes;
 *  - "…": POSIX double-quoted text: "\" followed by one of " \ ` $ keeps that character,
 *    "\<newline>" is a continuation, any other "\x" keeps both characters;
 *  - no variable expansion and no % specifiers (unlike Environment= lines in a unit).
 *
 * The VM lab checks the same rendering against the real systemd (join.test.ts).
 */
export function parseSystemdEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const ws = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r';
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (ws(text[i]) || text[i] === '\n')) i++; // blank lines, leading whitespace
    if (i >= n) break;
    if (text[i] === '#' || text[i] === ';') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    let key = '';
    while (i < n && text[i] !== '=' && text[i] !== '\n') key += text[i++];
    if (text[i] !== '=') continue; // no "=": ignored
    i++;
    key = key.replace(/[ \t\r]+$/, '');
    // "pre-value": whitespace is skipped; a quote opens a quoted part; anything else starts an unquoted part.
    let value = '';
    let state: 'pre' | 'unquoted' = 'pre';
    let trailingWs = -1;
    while (i < n && text[i] !== '\n') {
      const c = text[i] as string;
      if (state === 'pre') {
        if (ws(c)) {
          i++;
        } else if (c === "'") {
          i++;
          while (i < n && text[i] !== "'") value += text[i++];
          i++;
        } else if (c === '"') {
          i++;
          while (i < n && text[i] !== '"') {
            if (text[i] === '\\' && i + 1 < n) {
              const e = text[i + 1] as string;
              if ('"\\`$'.includes(e)) value += e;
              else if (e !== '\n') value += `\\${e}`;
              i += 2;
            } else value += text[i++];
          }
          i++;
        } else state = 'unquoted';
        continue;
      }
      if (c === '\\' && i + 1 < n) {
        if (text[i + 1] !== '\n') value += text[i + 1];
        i += 2;
        trailingWs = -1;
        continue;
      }
      if (ws(c)) {
        if (trailingWs < 0) trailingWs = value.length;
      } else trailingWs = -1;
      value += c;
      i++;
    }
    if (state === 'unquoted' && trailingWs >= 0) value = value.slice(0, trailingWs);
    out[key] = value;
  }
  return out;
}
