// Varied test strings for tokenizer comparisons: fixed edge cases plus seeded random mixes of ASCII, whitespace
// runs, newlines, control bytes, accented and CJK text, emoji (with ZWJ sequences), combining marks and
// special-token look-alikes.
import { rng } from './rng.js';
const pools = [
  'abcdefghijklmnopqrstuvwxyz',
  'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ' ',
  '  ',
  '\n',
  '\t',
  '.,;:!?"\'()[]{}-_/\\@#$%^&*+=<>|~`',
  '\x00\x01\x07\x08\x0b\x0c\r\x1b\x1f\x7f',
  'éèêëàâäôöûüçñßøåæ',
  'абвгдежзийклмнопрстуфхцчшщъыьэюя',
  '中文字符日本語한국어',
  'αβγδεζηθλμπσω',
  '😀🎉👍🏽❤️🚀🧑‍💻👨‍👩‍👧',
  '\u0301\u0308\u200b\u200d\u00a0\u2028\u3000\u2581',
];
const words = ['Once', 'upon', 'a', 'time', 'Lily', 'there', 'was', 'little', 'girl', 'the', 'park', 'ball', 'mom',
  '<s>', '</s>', '<unk>', '<0x41>', 'he', 'she', "didn't", 'happy', '▁'];

export const fixedStrings = [
  '', ' ', '  ', '   ', '\n', '\n\n', ' \n ', '\t', 'a', ' a', 'a ', 'Once upon a time',
  'Once upon a time, there was a little girl named Lily.', '  leading and trailing  ', 'multiple   spaces   here',
  'line one\nline two\r\nline three', '\x00', '\x00\x01\x02', 'tab\tseparated\tvalues', 'émoji 😀 and 中文',
  '👨‍👩‍👧‍👦', 'e\u0301', '<s>', '</s>', '<unk>', 'a<s>b', '<s><s>', ' <s> ', 'x</s>y<unk>z', '<0x41>', '▁', '▁▁a',
  "Lily's mom said, \"Don't worry!\"", '1234567890', '3.14159', 'a'.repeat(1000), ' '.repeat(300),
  'Once upon a time. '.repeat(200), '\u00a0', '\u3000', '\ufeffBOM',
];

/** `count` seeded random strings (lengths 1..200, a few much longer). */
export function randomStrings(count: number, seed = 1): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; ++i) {
    const length = i % 50 === 49 ? 2000 + Math.floor(r() * 3000) : 1 + Math.floor(r() * 200);
    let s = '';
    while (s.length < length) {
      if (r() < 0.3) {
        s += words[Math.floor(r() * words.length)] + (r() < 0.7 ? ' ' : '');
      } else {
        const pool = [...pools[Math.floor(r() * pools.length)]];  // by code point
        s += pool[Math.floor(r() * pool.length)];
      }
    }
    out.push(s);
  }
  return out;
}
