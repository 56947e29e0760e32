// What the TensorRT-LLM backend needs to know about an engine, from the config.json trtllm-build writes beside the
// rank*.engine files: { version, pretrained_config: {...ReDrafter checkpoint config...}, build_config: {...} }.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { codedError, ErrorCodes, type RedrafterError } from '../errors.js';

export interface TrtLlmEngineInfo {
  engineDir: string;
  version?: string;
  architecture: string;
  dtype?: string;
  vocabSize: number;
  /** build_config.max_seq_len: prompt + generated tokens per request. */
  maxSeqLen: number;
  maxBatchSize?: number;
  maxInputLen?: number;
  /** build_config.max_draft_len: trtllm-build adds it to max_seq_len for the draft tokens of a step. */
  maxDraftLen: number;
  /** Prompt + generated tokens a request may use: maxSeqLen - maxDraftLen. */
  contextLimit: number;
  tpSize: number;
  ppSize: number;
  /** ReDrafter parameters, fixed at build time; absent for an engine without a drafter. */
  redrafter?: { numBeams: number; draftLenPerBeam: number; greedySearch: boolean };
}

function invalid(message: string): RedrafterError {
  return codedError(ErrorCodes.INVALID_MODEL, message);
}

function int(obj: Record<string, unknown>, key: string, where: string, required: boolean): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (required) throw invalid(`${where}: "${key}" is missing`);
    return undefined;
  }
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw invalid(`${where}: "${key}" must be a non-negative integer`);
  return v as number;
}

export async function readTrtLlmEngineInfo(engineDir: string): Promise<TrtLlmEngineInfo> {
  const dir = resolve(engineDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw codedError(ErrorCodes.IO, `${dir}: the engine directory does not exist`);
  }
  const file = join(dir, 'config.json');
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code) {
      throw codedError(ErrorCodes.IO, `${file}: cannot read the engine config (${code})`);
    }
    throw invalid(`${file}: the engine config is not valid JSON`);
  }
  const pretrained = config.pretrained_config as Record<string, unknown> | undefined;
  const build = config.build_config as Record<string, unknown> | undefined;
  if (!pretrained || typeof pretrained !== 'object' || !build || typeof build !== 'object') {
    throw invalid(`${file}: not a trtllm-build engine config (no pretrained_config / build_config); ` +
      'pass the directory trtllm-build wrote, not the checkpoint');
  }
  const where = `${file} pretrained_config`;
  const mapping = (pretrained.mapping ?? {}) as Record<string, unknown>;
  const tpSize = int(mapping, 'tp_size', `${where}.mapping`, false) ?? 1;
  const ppSize = int(mapping, 'pp_size', `${where}.mapping`, false) ?? 1;
  const engines = readdirSync(dir).filter((f) => /^rank\d+\.engine$/.test(f));
  if (engines.length === 0) throw invalid(`${dir}: no rank*.engine files (did trtllm-build finish?)`);
  const numBeams = int(pretrained, 'redrafter_num_beams', where, false);
  const draftLen = int(pretrained, 'redrafter_draft_len_per_beam', where, false);
  const maxSeqLen = int(build, 'max_seq_len', `${file} build_config`, true)!;
  // trtllm-build sets max_draft_len = redrafter_num_beams * redrafter_draft_len_per_beam (tensorrt_llm/commands/build.py)
  const maxDraftLen = int(build, 'max_draft_len', `${file} build_config`, false) ??
    (numBeams !== undefined && draftLen !== undefined ? numBeams * draftLen : 0);
  if (maxDraftLen >= maxSeqLen) throw invalid(`${file}: build_config.max_draft_len ${maxDraftLen} leaves no room in max_seq_len ${maxSeqLen}`);
  return {
    engineDir: dir,
    version: typeof config.version === 'string' ? config.version : undefined,
    architecture: String(pretrained.architecture ?? ''),
    dtype: typeof pretrained.dtype === 'string' ? pretrained.dtype : undefined,
    vocabSize: int(pretrained, 'vocab_size', where, true)!,
    maxSeqLen,
    maxDraftLen,
    contextLimit: maxSeqLen - maxDraftLen,
    maxBatchSize: int(build, 'max_batch_size', `${file} build_config`, false),
    maxInputLen: int(build, 'max_input_len', `${file} build_config`, false),
    tpSize,
    ppSize,
    redrafter: numBeams !== undefined && draftLen !== undefined
      ? { numBeams, draftLenPerBeam: draftLen, greedySearch: pretrained.redrafter_greedy_search !== false }
      : undefined,
  };
}
