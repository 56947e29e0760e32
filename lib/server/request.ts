// The request bodies of POST /v1/completions and /v1/chat/completions, checked and normalized. Every bad value is a
// 400 naming its field; OpenAI fields the server does not implement are accepted at their default values and refused
// otherwise; names outside the API are ignored (as llama-server, vLLM and trtllm-serve do).
import type { ChatMessage } from '../chat-template.js';
import { badRequest } from './errors.js';

/** What a generation request asks for, in the engine's terms. */
export interface GenerationRequest {
  kind: 'completion' | 'chat';
  /** The `model` field, when given. */
  model: string | undefined;
  /** completion: the prompts (text, or token ids); each gets `n` choices. */
  prompts: (string | number[])[];
  /** chat: the conversation. */
  messages: ChatMessage[];
  /** New tokens at most; undefined: up to the end of the context. */
  maxTokens: number | undefined;
  /** The field maxTokens came from (for the context-length error). */
  maxTokensField: string;
  temperature: number;
  topP: number;
  topK: number;
  /** undefined: a random seed per choice. */
  seed: number | undefined;
  stop: string[];
  n: number;
  stream: boolean;
  includeUsage: boolean;
}

type Body = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** body[key], with null read as absent (the API's "not given"). */
function field(body: Body, key: string): unknown {
  const v = body[key];
  return v === null ? undefined : v;
}

function number(body: Body, key: string, min: number, max: number, fallback: number, openMin = false): number {
  const v = field(body, key);
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(key, `${key} must be a number, got ${describe(v)}`);
  if ((openMin ? v <= min : v < min) || v > max)
    throw badRequest(key, `${key} must be in ${openMin ? '(' : '['}${min}, ${max}], got ${v}`);
  return v;
}

function integer(body: Body, key: string, min: number, max: number): number | undefined {
  const v = field(body, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw badRequest(key, `${key} must be an integer, got ${describe(v)}`);
  if (v < min || v > max) throw badRequest(key, `${key} must be in [${min}, ${max}], got ${v}`);
  return v;
}

function boolean(body: Body, key: string, fallback: boolean): boolean {
  const v = field(body, key);
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw badRequest(key, `${key} must be a boolean, got ${describe(v)}`);
  return v;
}

function isEmptyObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

/** An OpenAI field the server does not implement: which values mean "off" (accepted and ignored), and what they are. */
interface Unsupported {
  accepts: (v: unknown) => boolean;
  off: string;
}

const zero: Unsupported = { accepts: (v) => v === 0, off: '0' };
const absent: Unsupported = { accepts: () => false, off: 'null' };
const noBias: Unsupported = { accepts: isEmptyObject, off: '{} or null' };

const unsupportedCompletion: Record<string, Unsupported> = {
  best_of: { accepts: (v) => v === 1, off: '1' },
  echo: { accepts: (v) => v === false, off: 'false' },
  frequency_penalty: zero,
  presence_penalty: zero,
  logit_bias: noBias,
  logprobs: absent,
  suffix: { accepts: (v) => v === '', off: 'null or ""' },
};

const noTools: Unsupported = { accepts: (v) => Array.isArray(v) && v.length === 0, off: '[] or null' };
const unsupportedChat: Record<string, Unsupported> = {
  frequency_penalty: zero,
  presence_penalty: zero,
  logit_bias: noBias,
  logprobs: { accepts: (v) => v === false, off: 'false' },
  top_logprobs: zero,
  tools: noTools,
  functions: noTools,
  tool_choice: { accepts: (v) => v === 'none' || v === 'auto', off: '"none", "auto" or null' },
  function_call: { accepts: (v) => v === 'none' || v === 'auto', off: '"none", "auto" or null' },
  response_format: {
    accepts: (v) => typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'text' && Object.keys(v).length === 1,
    off: '{ "type": "text" } or null',
  },
  modalities: { accepts: (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text', off: '["text"] or null' },
  audio: absent,
  prediction: absent,
  web_search_options: absent,
  reasoning_effort: absent,
  verbosity: { accepts: (v) => v === 'medium', off: '"medium" or null' },
};

function refuseUnsupported(body: Body, table: Record<string, Unsupported>): void {
  for (const [key, u] of Object.entries(table)) {
    const v = field(body, key);
    if (v !== undefined && !u.accepts(v))
      throw badRequest(key, `${key} is not supported by this server: only ${u.off} (the default) is accepted, got ${describe(v)}`);
  }
}

function stopStrings(body: Body): string[] {
  const v = field(body, 'stop');
  if (v === undefined) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list)) throw badRequest('stop', `stop must be a string or an array of strings, got ${describe(v)}`);
  return list.map((s, i) => {
    if (typeof s !== 'string') throw badRequest(`stop[${i}]`, `stop[${i}] must be a string, got ${describe(s)}`);
    if (s.length === 0) throw badRequest(`stop[${i}]`, `stop[${i}] must not be empty`);
    return s;
  });
}

function tokenIds(v: unknown[], param: string, vocabSize: number): number[] {
  if (v.length === 0) throw badRequest(param, `${param} must not be empty`);
  return v.map((t, i) => {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= vocabSize)
      throw badRequest(`${param}[${i}]`, `${param}[${i}] must be a token id in [0, ${vocabSize - 1}], got ${describe(t)}`);
    return t;
  });
}

/** The prompt field: a string, token ids, or a list of either. */
function prompts(body: Body, vocabSize: number): (string | number[])[] {
  const v = field(body, 'prompt');
  if (v === undefined) throw badRequest('prompt', 'prompt is required');
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v)) throw badRequest('prompt', `prompt must be a string, an array of strings or token ids, got ${describe(v)}`);
  if (v.length === 0) throw badRequest('prompt', 'prompt must not be an empty array');
  if (typeof v[0] === 'number') return [tokenIds(v, 'prompt', vocabSize)];
  return v.map((p, i) => {
    if (typeof p === 'string') return p;
    if (Array.isArray(p)) return tokenIds(p, `prompt[${i}]`, vocabSize);
    throw badRequest(`prompt[${i}]`, `prompt[${i}] must be a string or an array of token ids, got ${describe(p)}`);
  });
}

function messageContent(v: unknown, param: string): string {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) throw badRequest(param, `${param} must be a string or an array of text parts, got ${describe(v)}`);
  return v
    .map((part, j) => {
      const p = part as { type?: unknown; text?: unknown } | null;
      if (typeof p !== 'object' || p === null) throw badRequest(`${param}[${j}]`, `${param}[${j}] must be an object`);
      if (p.type !== 'text')
        throw badRequest(`${param}[${j}].type`, `${param}[${j}].type ${describe(p.type)} is not supported: only "text" parts are`);
      if (typeof p.text !== 'string') throw badRequest(`${param}[${j}].text`, `${param}[${j}].text must be a string, got ${describe(p.text)}`);
      return p.text;
    })
    .join('');
}

function messages(body: Body): ChatMessage[] {
  const v = field(body, 'messages');
  if (v === undefined) throw badRequest('messages', 'messages is required');
  if (!Array.isArray(v)) throw badRequest('messages', `messages must be an array, got ${describe(v)}`);
  if (v.length === 0) throw badRequest('messages', 'messages must not be empty');
  return v.map((m, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw badRequest(`messages[${i}]`, `messages[${i}] must be an object`);
    const { role, content, tool_calls: toolCalls } = m as { role?: unknown; content?: unknown; tool_calls?: unknown };
    if (typeof role !== 'string' || role.length === 0)
      throw badRequest(`messages[${i}].role`, `messages[${i}].role must be a non-empty string, got ${describe(role)}`);
    if (toolCalls !== undefined && toolCalls !== null && !(Array.isArray(toolCalls) && toolCalls.length === 0))
      throw badRequest(`messages[${i}].tool_calls`, `messages[${i}].tool_calls is not supported by this server`);
    if (content === undefined || content === null) throw badRequest(`messages[${i}].content`, `messages[${i}].content is required`);
    return { role, content: messageContent(content, `messages[${i}].content`) };
  });
}

function stringField(body: Body, key: string): string | undefined {
  const v = field(body, key);
  if (v !== undefined && typeof v !== 'string') throw badRequest(key, `${key} must be a string, got ${describe(v)}`);
  return v;
}

export interface RequestLimits {
  vocabSize: number;
  /** Choices one request may ask for (n × prompts): the server's --parallel. */
  maxChoices: number;
}

/** A request body of /v1/completions (kind 'completion') or /v1/chat/completions (kind 'chat'), checked. */
export function parseGenerationRequest(kind: 'completion' | 'chat', raw: unknown, limits: RequestLimits): GenerationRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw badRequest(null, 'the request body must be a JSON object');
  const body = raw as Body;
  refuseUnsupported(body, kind === 'chat' ? unsupportedChat : unsupportedCompletion);
  const model = stringField(body, 'model');
  stringField(body, 'user');

  const stream = boolean(body, 'stream', false);
  const streamOptions = field(body, 'stream_options');
  let includeUsage = false;
  if (streamOptions !== undefined) {
    if (!stream) throw badRequest('stream_options', 'stream_options is only allowed with stream: true');
    if (typeof streamOptions !== 'object' || Array.isArray(streamOptions))
      throw badRequest('stream_options', `stream_options must be an object, got ${describe(streamOptions)}`);
    includeUsage = boolean(streamOptions as Body, 'include_usage', false);
  }

  // max_tokens: OpenAI's default is 16 on /v1/completions; a chat may use the rest of the context.
  let maxTokens = integer(body, 'max_tokens', 1, 2 ** 31 - 1);
  let maxTokensField = 'max_tokens';
  if (kind === 'chat') {
    const mct = integer(body, 'max_completion_tokens', 1, 2 ** 31 - 1);
    if (mct !== undefined) {
      maxTokens = mct;
      maxTokensField = 'max_completion_tokens';
    }
  } else {
    maxTokens ??= 16;
  }

  const topK = integer(body, 'top_k', -1, 2 ** 31 - 1) ?? 0;
  const request: GenerationRequest = {
    kind,
    model,
    prompts: kind === 'completion' ? prompts(body, limits.vocabSize) : [],
    messages: kind === 'chat' ? messages(body) : [],
    maxTokens,
    maxTokensField,
    temperature: number(body, 'temperature', 0, 2, 1),
    topP: number(body, 'top_p', 0, 1, 1, true),
    topK: topK < 0 ? 0 : topK,  // -1: off (vLLM's spelling)
    seed: integer(body, 'seed', 0, Number.MAX_SAFE_INTEGER),
    stop: stopStrings(body),
    n: integer(body, 'n', 1, 2 ** 31 - 1) ?? 1,
    stream,
    includeUsage,
  };
  const choices = request.n * Math.max(1, request.prompts.length);
  if (choices > limits.maxChoices)
    throw badRequest('n', `n × prompts (${choices}) must be at most ${limits.maxChoices}, the server's --parallel`);
  return request;
}
