// JSON as Python's `json` module reads and writes it, for config files that TensorRT-LLM's Python tools produce
// and consume: integers and floats stay distinct (`10000` vs `10000.0`), object key order is kept, NaN/Infinity are
// accepted, and `dumpPythonJson` writes exactly what `json.dump(obj, f, indent=4)` writes (ensure_ascii, Python's
// float repr, no trailing newline). JavaScript's JSON loses the int/float distinction, which would change the text
// (and, for some keys, the type TensorRT-LLM sees), so the checkpoint converter uses this instead.

/** A Python int (kept as its decimal text, so big values are exact). */
export class PyInt {
  constructor(readonly text: string) {}
  toNumber(): number {
    return Number(this.text);
  }
}

/** A Python float. */
export class PyFloat {
  constructor(readonly value: number) {}
}

export type PyValue = null | boolean | string | PyInt | PyFloat | PyValue[] | PyDict;
/** A Python dict: insertion-ordered; setting an existing key keeps its position (as Python does). */
export type PyDict = Map<string, PyValue>;

export class PyJsonError extends Error {}

/** Parses JSON text as Python's json.loads does. Throws PyJsonError with the offset on malformed input. */
export function parsePythonJson(text: string): PyValue {
  let i = 0;
  const fail = (what: string): never => {
    throw new PyJsonError(`${what} at offset ${i}`);
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const literal = (word: string): boolean => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return true;
    }
    return false;
  };
  const parseString = (): string => {
    if (text[i] !== '"') fail('expected a string');
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c === '\\') {
        const e = text[i + 1];
        i += 2;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const hex = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
            out += String.fromCharCode(parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            i -= 2;
            fail('bad escape');
        }
        continue;
      }
      if (c < ' ') fail('control character in string');
      out += c;
      i++;
    }
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const dict: PyDict = new Map();
      ws();
      if (text[i] === '}') {
        i++;
        return dict;
      }
      for (;;) {
        ws();
        const key = parseString();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        dict.set(key, value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return dict;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const list: PyValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return list;
      }
      for (;;) {
        list.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return list;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    if (literal('null')) return null;
    if (literal('true')) return true;
    if (literal('false')) return false;
    if (literal('NaN')) return new PyFloat(NaN);
    if (literal('Infinity')) return new PyFloat(Infinity);
    if (literal('-Infinity')) return new PyFloat(-Infinity);
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail('unexpected character');
    i += m[0].length;
    if (m[1] === undefined && m[2] === undefined) return new PyInt(BigInt(m[0]).toString());
    return new PyFloat(Number(m[0]));
  };
  const result = value();
  ws();
  if (i !== text.length) fail('extra data');
  return result;
}

/** Python's repr() of a float. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  if (x === 0) return `${sign}0.0`;
  // Shortest round-trip digits, as Python's repr uses: d.ddd e±X
  const [mant, expText] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const decpt = Number(expText) + 1;  // value = 0.<digits> * 10^decpt
  if (decpt <= -4 || decpt > 16) {
    const exp = decpt - 1;
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

function pythonString(s: string): string {
  let out = '"';
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    const ch = s[k]!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** What Python's json.dump(value, f, indent=4) writes (no trailing newline). */
export function dumpPythonJson(value: PyValue, indent = 4, level = 0): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return pythonString(value);
  if (value instanceof PyInt) return value.text;
  if (value instanceof PyFloat) return pythonFloatRepr(value.value);
  const inner = ' '.repeat(indent * (level + 1));
  const outer = ' '.repeat(indent * level);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + dumpPythonJson(v, indent, level + 1)).join(',\n')}\n${outer}]`;
  }
  if (value.size === 0) return '{}';
  const items = [...value].map(([k, v]) => `${inner}${pythonString(k)}: ${dumpPythonJson(v, indent, level + 1)}`);
  return `{\n${items.join(',\n')}\n${outer}}`;
}

export function isDict(value: PyValue | undefined): value is PyDict {
  return value instanceof Map;
}

/** The value as a JS number if it is a Python int (bools are not accepted), else undefined. */
export function asInt(value: PyValue | undefined): number | undefined {
  return value instanceof PyInt ? value.toNumber() : undefined;
}
