// Which executor backend loadEngine uses: 'cpu', 'cuda', 'tensorrt-llm', or 'auto' (TensorRT-LLM for an engine
// directory where its module, redrafter_trtllm.node, is built and an NVIDIA GPU is visible; else the CUDA engine where
// its module is built and a GPU is visible; else the CPU engine), and which options belong to which backend.
import { codedError, ErrorCodes, invalidArgument } from './errors.js';
import { backendModules, backendModulePresent } from './native.js';
import { nvidiaGpuPresent, resolveAutoBackend, trtLlmOptionKeys } from './trtllm/engine.js';

export type Backend = 'cpu' | 'cuda' | 'tensorrt-llm' | 'auto';
export type ResolvedBackend = 'cpu' | 'cuda' | 'tensorrt-llm';

/** The options the CPU engine takes (drafter: null, "no drafter", is accepted by all). */
export const cpuOptionKeys: ReadonlySet<string> = new Set(['model', 'drafter', 'threads', 'contextLength', 'maxKvCacheBytes', 'maxActiveRequests', 'drafterWeightType', 'drafterHalfWeights']);
/** The options the CUDA engine takes (lib/cuda-backend.ts). */
export const cudaOptionKeys: ReadonlySet<string> = new Set(['model', 'drafter', 'device', 'contextLength', 'maxActiveRequests',
  'maxBeamWidth', 'maxBeamLength', 'cudaGraphs']);
const sharedKeys = new Set(['backend', 'tokenizer']);
const optionKeys: Record<ResolvedBackend, ReadonlySet<string>> = { cpu: cpuOptionKeys, cuda: cudaOptionKeys, 'tensorrt-llm': trtLlmOptionKeys };

/** Why 'auto' does not pick TensorRT-LLM here, or undefined when it would. */
export function trtLlmUnavailableReason(
  trtLlmModulePresent: () => boolean = () => backendModulePresent('tensorrt-llm'),
  gpuPresent: () => boolean = nvidiaGpuPresent,
): string | undefined {
  const m = backendModules['tensorrt-llm'];
  if (!trtLlmModulePresent()) return `the TensorRT-LLM module ${m.file} is not built; ${m.build}`;
  if (!gpuPresent()) return 'no NVIDIA GPU is visible to this process (CUDA_VISIBLE_DEVICES, /dev/nvidia*)';
  return undefined;
}

/**
 * The backend for `options`. 'auto' is TensorRT-LLM when it is usable here (its module is present and a GPU visible)
 * and `engineDir` is given (without one there is nothing for it to load); else, for a model, the CUDA engine when a
 * GPU is visible and its module was built (and the drafter, if any, is a directory: a loaded Drafter is the CPU
 * engine's); else the CPU engine. `engineDir` without `model` where TensorRT-LLM is not usable is
 * ERR_REDRAFTER_UNSUPPORTED saying why. Nothing is loaded here: "usable" means the module file exists.
 */
export function selectBackend(
  options: { backend?: unknown; model?: unknown; engineDir?: unknown; drafter?: unknown },
  trtLlmModulePresent: () => boolean = () => backendModulePresent('tensorrt-llm'),
  gpuPresent: () => boolean = nvidiaGpuPresent,
  cudaModulePresent: () => boolean = () => backendModulePresent('cuda'),
): ResolvedBackend {
  const backend = options.backend ?? 'auto';
  if (backend !== 'cpu' && backend !== 'cuda' && backend !== 'tensorrt-llm' && backend !== 'auto')
    throw invalidArgument('backend', `must be 'cpu', 'cuda', 'tensorrt-llm' or 'auto', got ${JSON.stringify(backend)}`, 'range');
  if (backend !== 'auto') return backend;
  const cudaUsable = () =>
    (options.drafter === undefined || options.drafter === null || typeof options.drafter === 'string') &&
    gpuPresent() && cudaModulePresent();
  if (options.engineDir === undefined) return cudaUsable() ? 'cuda' : 'cpu';
  if (resolveAutoBackend(trtLlmModulePresent, gpuPresent) === 'tensorrt-llm') return 'tensorrt-llm';
  if (options.model !== undefined) return cudaUsable() ? 'cuda' : 'cpu';
  const why = trtLlmUnavailableReason(trtLlmModulePresent, gpuPresent)!;
  throw codedError(ErrorCodes.UNSUPPORTED, `backend 'auto': engineDir is a TensorRT-LLM engine but ${why}; for the CPU engine give model`);
}

/**
 * The options for `backend` out of loadEngine's: undefined values dropped; with 'auto', the other backend's options
 * dropped; with an explicit backend, another backend's option is a TypeError naming it.
 */
export function optionsFor(options: object, backend: ResolvedBackend, explicit: boolean): Record<string, unknown> {
  const own = optionKeys[backend];
  const others = (Object.keys(optionKeys) as ResolvedBackend[]).filter((b) => b !== backend).map((b) => optionKeys[b]);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (backend === 'tensorrt-llm' && key === 'drafter' && value === null) continue;  // the drafter is in the engine
    if (!own.has(key) && !sharedKeys.has(key) && others.some((other) => other.has(key))) {
      if (!explicit) continue;
      throw invalidArgument(key, `is not an option of the ${backend} backend` +
        (key === 'drafter' ? ' (a TensorRT-LLM engine has its drafter built in)' : ''), 'type');
    }
    out[key] = value;
  }
  out.backend = backend;
  return out;
}
