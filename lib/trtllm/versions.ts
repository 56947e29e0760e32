// Which TensorRT-LLM releases the tensorrt-llm backend supports, and what differs between them. The range and the
// architecture-name boundary live in native/trtllm/supported-versions.json (also read by cmake/TrtLlm.cmake at
// build time); this file parses and compares versions (PEP 440, the subset TensorRT-LLM uses: X.Y.Z, .devN, aN,
// bN, rcN, .postN) and finds the installed release.
//
// Range (docs/tensorrt-llm.md "Supported releases"): 0.12.0 is the first release whose TensorRT engine path has
// ReDrafter (release notes 0.12.0: "Supported ReDrafter Speculative Decoding"); 1.3.0rc20 is the last before the
// TensorRT engine backend was removed from main (its release notes: "the last one supporting the TensorRT backend").
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codedError, ErrorCodes, invalidArgument, type RedrafterError } from '../errors.js';

interface SupportedVersions {
  first: string;
  last: string;
  llamaQwenArchitecturesFrom: string;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const supported = JSON.parse(readFileSync(join(root, 'native', 'trtllm', 'supported-versions.json'), 'utf8')) as SupportedVersions;

export const TRTLLM_FIRST_SUPPORTED: string = supported.first;
export const TRTLLM_LAST_SUPPORTED: string = supported.last;

export interface TrtLlmVersion {
  text: string;
  release: [number, number, number];
  /** 0: .devN, 1: aN, 2: bN, 3: rcN, 4: final release. */
  stage: number;
  stageNumber: number;
  post: number;
}

const STAGES: Record<string, number> = { dev: 0, a: 1, b: 2, rc: 3 };

/** Parses "1.2.0rc6.post2", "0.15.0.dev2024101500", "0.12.0"; undefined when it is not such a version. */
export function parseTrtLlmVersion(text: string): TrtLlmVersion | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.?(dev|a|b|rc)(\d+))?(?:\.post(\d+))?(?:\+[\w.]+)?$/.exec(text.trim());
  if (!m) return undefined;
  return {
    text: text.trim(),
    release: [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)],
    stage: m[4] === undefined ? 4 : STAGES[m[4]]!,
    stageNumber: m[5] === undefined ? 0 : Number(m[5]),
    post: m[6] === undefined ? 0 : Number(m[6]),
  };
}

function must(text: string): TrtLlmVersion {
  const v = parseTrtLlmVersion(text);
  if (!v) throw codedError(ErrorCodes.INTERNAL, `native/trtllm/supported-versions.json: not a TensorRT-LLM version: ${text}`);
  return v;
}

/** <0, 0, >0 as a is older than, the same as, newer than b. */
export function compareTrtLlmVersions(a: TrtLlmVersion, b: TrtLlmVersion): number {
  for (let i = 0; i < 3; i++) if (a.release[i] !== b.release[i]) return a.release[i]! - b.release[i]!;
  if (a.stage !== b.stage) return a.stage - b.stage;
  if (a.stageNumber !== b.stageNumber) return a.stageNumber - b.stageNumber;
  return a.post - b.post;
}

const FIRST = must(TRTLLM_FIRST_SUPPORTED);
const LAST = must(TRTLLM_LAST_SUPPORTED);
const NEW_ARCHITECTURES = must(supported.llamaQwenArchitecturesFrom);

export const supportedRangeText = `${TRTLLM_FIRST_SUPPORTED} to ${TRTLLM_LAST_SUPPORTED}`;

/** Whether `version` is a release with ReDrafter in its TensorRT engine path. */
export function isSupportedTrtLlmVersion(version: TrtLlmVersion): boolean {
  return compareTrtLlmVersions(version, FIRST) >= 0 && compareTrtLlmVersions(version, LAST) <= 0;
}

function unsupported(message: string): RedrafterError {
  return codedError(ErrorCodes.UNSUPPORTED, message);
}

/**
 * `text` parsed and checked against the supported range; one-line ERR_REDRAFTER_UNSUPPORTED naming the version found,
 * where it was found and the range otherwise.
 */
export function requireSupportedTrtLlmVersion(text: string, where: string): TrtLlmVersion {
  const v = parseTrtLlmVersion(text);
  if (!v) throw unsupported(`${where}: "${text}" is not a TensorRT-LLM version; supported: ${supportedRangeText}`);
  if (!isSupportedTrtLlmVersion(v)) {
    const why = compareTrtLlmVersions(v, FIRST) < 0
      ? 'is older than the first release with ReDrafter engines'
      : 'is newer than the last release with the TensorRT engine backend (removed in 2026)';
    throw unsupported(`${where}: TensorRT-LLM ${v.text} ${why}; supported: ${supportedRangeText}`);
  }
  return v;
}

/**
 * The checkpoint `architecture` TensorRT-LLM `version` builds a ReDrafter engine from, for a base model of
 * `baseArchitecture`: ReDrafterForLLaMALM / ReDrafterForQWenLM (tensorrt_llm/models/__init__.py MODEL_MAP and
 * examples/redrafter/convert_checkpoint.py REDRAFTER_MAP) from `llamaQwenArchitecturesFrom` on; before that the
 * one ReDrafter model, ReDrafterForCausalLM, a LLaMA subclass (tensorrt_llm/models/redrafter/model.py), so only
 * LLaMA-family base models. undefined: no ReDrafter model for that base in that release.
 */
export function redrafterArchitecture(version: TrtLlmVersion, baseArchitecture: string): string | undefined {
  if (compareTrtLlmVersions(version, NEW_ARCHITECTURES) >= 0) return REDRAFTER_MAP[baseArchitecture];
  return baseArchitecture === 'LlamaForCausalLM' ? 'ReDrafterForCausalLM' : undefined;
}

/** Base-model architecture -> ReDrafter architecture in the releases that have REDRAFTER_MAP. */
export const REDRAFTER_MAP: Readonly<Record<string, string>> = {
  QWenForCausalLM: 'ReDrafterForQWenLM',
  Qwen2ForCausalLM: 'ReDrafterForQWenLM',
  LlamaForCausalLM: 'ReDrafterForLLaMALM',
};

/** The base architectures `version` has a ReDrafter model for. */
export function redrafterBaseArchitectures(version: TrtLlmVersion): string[] {
  return Object.keys(REDRAFTER_MAP).filter((a) => redrafterArchitecture(version, a) !== undefined);
}

/** `__version__ = "..."` from a tensorrt_llm/version.py, or kTensorRtLlmVersion from executor/version.h. */
export function versionFromSource(text: string): string | undefined {
  const m = /__version__\s*=\s*["']([^"']+)["']/.exec(text) ?? /kTensorRtLlmVersion\s*=\s*"([^"]+)"/.exec(text);
  return m?.[1];
}

/**
 * The installed TensorRT-LLM's version and where it was read, from TRTLLM_ROOT (a pip package directory holding
 * version.py, or a tree holding [cpp/]include/tensorrt_llm/executor/version.h); undefined when none is found.
 */
export function findInstalledTrtLlmVersion(env: NodeJS.ProcessEnv = process.env): { version: string; file: string } | undefined {
  const rootDir = env.TRTLLM_ROOT;
  if (!rootDir) return undefined;
  const candidates = [
    join(rootDir, 'version.py'),
    join(rootDir, 'tensorrt_llm', 'version.py'),
    join(rootDir, 'include', 'tensorrt_llm', 'executor', 'version.h'),
    join(rootDir, 'cpp', 'include', 'tensorrt_llm', 'executor', 'version.h'),
  ];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    const version = versionFromSource(readFileSync(file, 'utf8'));
    if (version) return { version, file };
  }
  return undefined;
}

/**
 * The TensorRT-LLM version a checkpoint is converted for: `flag` (--trtllm-version) when given, else the installed
 * one; checked against the supported range. Neither: a TypeError naming trtllmVersion.
 */
export function resolveTargetTrtLlmVersion(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): TrtLlmVersion {
  if (flag !== undefined) {
    if (typeof flag !== 'string' || !parseTrtLlmVersion(flag))
      throw invalidArgument('trtllmVersion', `must be a TensorRT-LLM version such as ${TRTLLM_LAST_SUPPORTED}, got ${JSON.stringify(flag)}`);
    return requireSupportedTrtLlmVersion(flag, '--trtllm-version');
  }
  const installed = findInstalledTrtLlmVersion(env);
  if (!installed) {
    throw invalidArgument('trtllmVersion', 'is required where no TensorRT-LLM is found (TRTLLM_ROOT unset or without version.py): ' +
      `pass --trtllm-version with the release that will build the engine (${supportedRangeText})`);
  }
  return requireSupportedTrtLlmVersion(installed.version, installed.file);
}
