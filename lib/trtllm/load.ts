// loadEngine's tensorrt-llm backend: a TensorRT-LLM ReDrafter engine directory and its Hugging Face tokenizer on the
// addon's TensorRT-LLM executor (native/trtllm), behind the same Engine/Session code as the CPU engine.
import { trtLlmNotBuiltError } from '../backend-select.js';
import type { LoadedBackend } from '../loaded-backend.js';
import type { NativeExecutor, NativeResponse } from '../native.js';
import { prepareTrtLlmEngine, type TrtLlmEngineOptions } from './engine.js';
import { HfTextCodec } from './text-codec.js';

/** Validates the options and reads the engine config and tokenizer first, so their errors come before "not built". */
export async function loadTrtLlmBackend(
  o: Record<string, unknown>,
  executor: NativeExecutor,
  onResponses: (responses: NativeResponse[]) => void,
): Promise<LoadedBackend> {
  const prepared = await prepareTrtLlmEngine(o as unknown as TrtLlmEngineOptions);
  if (!executor.backends.includes('tensorrt-llm')) throw trtLlmNotBuiltError();
  const nativeEngine = await executor.loadEngine({ ...prepared.nativeOptions }, onResponses);
  return {
    nativeEngine,
    codec: new HfTextCodec(prepared.tokenizer, prepared.chatTemplate),
    hasDrafter: prepared.draft.beamWidth > 0,
    fixedBeamShape: true,
    maxTokensWithinContext: true,
  };
}
