// Generation statistics as the API reports them, from the executor's per-request counters.
import type { NativeRequestStats } from './native.js';

export interface GenerationStats {
  /** Prompt tokens sent (the session's history included) and how many of them the KV cache already held. */
  promptTokens: number;
  reusedPromptTokens: number;
  /** Decoding steps after the prefill: one LLM forward each. */
  steps: number;
  /** Tokens generated (the first one, from the prefill, included; an end-of-sequence token is not). */
  generatedTokens: number;
  /** Mean tokens emitted per decoding step (accepted drafts + the LLM's own token; 1 for plain decoding). */
  tokensPerStep: number;
  /** [k] = decoding steps that emitted k tokens. */
  tokensPerStepHistogram: number[];
  /** generatedTokens / totalSeconds. */
  tokensPerSecond: number;
  /** Decoding speed alone: tokens after the first / decoding seconds. */
  decodeTokensPerSecond: number;
  prefillSeconds: number;
  draftingSeconds: number;
  verificationSeconds: number;
  /** Tree building, KV commit, queueing and bookkeeping. */
  otherSeconds: number;
  totalSeconds: number;
}

export function toGenerationStats(s: NativeRequestStats): GenerationStats {
  const histogram = [...s.tokensPerStepHistogram];
  const stepTokens = histogram.reduce((sum, count, k) => sum + count * k, 0);
  const totalSeconds = s.totalSeconds + s.queueSeconds;
  const decodeSeconds = Math.max(0, s.totalSeconds - s.prefillSeconds);
  return {
    promptTokens: s.promptTokens,
    reusedPromptTokens: s.reusedTokens,
    steps: s.steps,
    generatedTokens: s.generatedTokens,
    tokensPerStep: s.steps > 0 ? stepTokens / s.steps : 0,
    tokensPerStepHistogram: histogram,
    tokensPerSecond: totalSeconds > 0 ? s.generatedTokens / totalSeconds : 0,
    decodeTokensPerSecond: decodeSeconds > 0 ? Math.max(0, s.generatedTokens - 1) / decodeSeconds : 0,
    prefillSeconds: s.prefillSeconds,
    draftingSeconds: s.draftSeconds,
    verificationSeconds: s.verifySeconds,
    otherSeconds: Math.max(0, totalSeconds - s.prefillSeconds - s.draftSeconds - s.verifySeconds),
    totalSeconds,
  };
}
