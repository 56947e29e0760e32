// loadEngine's tensorrt-llm backend: a TensorRT-LLM ReDrafter engine directory and its Hugging Face tokenizer on the
// TensorRT-LLM executor (native/trtllm), which lives in its own module (redrafter_trtllm.node, linked to
// libtensorrt_llm) loaded only here, behind the same Engine/Session code as the other backends.
import type { LoadedBackend } from '../loaded-backend.js';
import { loadBackendModule, type NativeResponse } from '../native.js';
import { prepareTrtLlmEngine, type TrtLlmEngineOptions } from './engine.js';
import { HfTextCodec } from './text-codec.js';

/** Validates the options and reads the engine config and tokenizer first, so their errors come before "not built". */
export async function loadTrtLlmBackend(
  o: Record<string, unknown>,
  onResponses: (responses: NativeResponse[]) => void,
): Promise<LoadedBackend> {
  const prepared = await prepareTrtLlmEngine(o as unknown as TrtLlmEngineOptions);
  const executor = loadBackendModule('tensorrt-llm').executor;
  const nativeEngine = await executor.loadEngine({ ...prepared.nativeOptions }, onResponses);
  return {
    nativeEngine,
    codec: new HfTextCodec(prepared.tokenizer, prepared.chatTemplate),
    hasDrafter: prepared.draft.beamWidth > 0,
    fixedBeamShape: true,
    maxTokensWithinContext: true,
  };
}
