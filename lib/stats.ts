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
  /**
   * The beam shapes the decoding steps ran, most steps first: { beamWidth, beamLength, steps } (beamWidth 0: plain
   * steps). A pinned shape (adaptiveDraft off) runs the session's shape on every step but those that draft no
   * further than maxTokens or the end of the context allows (a shorter beamLength, or a plain step where one token is
   * left); an adaptive session also shorter chains and plain steps where they are faster.
   */
  beamShapes: BeamShapeSteps[];
  /** generatedTokens / totalSeconds. */
  tokensPerSecond: number;
  /** Decoding speed alone: tokens after the first / decoding seconds. */
  decodeTokensPerSecond: number;
  prefillSeconds: number;
  /** Where the decoding time went: the drafter's beam search, */
  draftingSeconds: number;
  /** packing the beams into a tree, */
  treeBuildingSeconds: number;
  /** the LLM's verification forward (shared by the requests batched in it; TensorRT-LLM: all of decoding), */
  forwardSeconds: number;
  /** acceptance over the tree, */
  acceptanceSeconds: number;
  /** the KV commit of the accepted path, */
  commitSeconds: number;
  /** forward + acceptance. */
  verificationSeconds: number;
  /** The rest: queueing, scheduling, responses and bookkeeping (total - prefill - the parts above). */
  otherSeconds: number;
  totalSeconds: number;
}

export interface BeamShapeSteps {
  beamWidth: number;
  beamLength: number;
  steps: number;
}

/** `shape`: the session's beam shape, what every step of a backend that reports no shapes ran (its shape is fixed). */
export function toGenerationStats(s: NativeRequestStats, shape?: { beamWidth: number; beamLength: number }): GenerationStats {
  const histogram = [...s.tokensPerStepHistogram];
  const stepTokens = histogram.reduce((sum, count, k) => sum + count * k, 0);
  const totalSeconds = s.totalSeconds + s.queueSeconds;
  const decodeSeconds = Math.max(0, s.totalSeconds - s.prefillSeconds);
  const parts = s.draftSeconds + s.treeSeconds + s.forwardSeconds + s.acceptSeconds + s.commitSeconds;
  return {
    promptTokens: s.promptTokens,
    reusedPromptTokens: s.reusedTokens,
    steps: s.steps,
    generatedTokens: s.generatedTokens,
    tokensPerStep: s.steps > 0 ? stepTokens / s.steps : 0,
    tokensPerStepHistogram: histogram,
    beamShapes: beamShapes(s, shape),
    tokensPerSecond: totalSeconds > 0 ? s.generatedTokens / totalSeconds : 0,
    decodeTokensPerSecond: decodeSeconds > 0 ? Math.max(0, s.generatedTokens - 1) / decodeSeconds : 0,
    prefillSeconds: s.prefillSeconds,
    draftingSeconds: s.draftSeconds,
    treeBuildingSeconds: s.treeSeconds,
    forwardSeconds: s.forwardSeconds,
    acceptanceSeconds: s.acceptSeconds,
    commitSeconds: s.commitSeconds,
    verificationSeconds: s.forwardSeconds + s.acceptSeconds,
    otherSeconds: Math.max(0, totalSeconds - s.prefillSeconds - parts),
    totalSeconds,
  };
}

function beamShapes(s: NativeRequestStats, shape?: { beamWidth: number; beamLength: number }): BeamShapeSteps[] {
  const reported = (s.shapeSteps ?? []).map((x) => ({ beamWidth: x.beamWidth, beamLength: x.beamLength, steps: x.steps }));
  if (reported.length === 0 && shape && s.steps > 0)
    return [{ beamWidth: shape.beamWidth, beamLength: shape.beamWidth > 0 ? shape.beamLength : 1, steps: s.steps }];
  return reported.sort((a, b) => b.steps - a.steps);
}
