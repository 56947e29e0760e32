// Apple's drafter config.json (apple/ml-recurrent-drafter configuration_drafter.DrafterConfig) and the tensor
// layout of its model.safetensors (modeling_drafter.Drafter's state dict).
import { ErrorCodes, invalidModel, type RedrafterError } from '../errors.js';

export const DRAFTER_MODEL_TYPE = 'recurrent_drafting_drafter';

export interface DrafterConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly exitDim: number;
  readonly numDraftLayers: number;
  readonly rnn: boolean;
}

export { invalidModel } from '../errors.js';

/** Validates a parsed config.json; errors name `file` and the field. */
export function parseDrafterConfig(json: unknown, file: string): DrafterConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw invalidModel(`${file}: not a JSON object`);
  const o = json as Record<string, unknown>;
  if (o.model_type !== DRAFTER_MODEL_TYPE) {
    throw invalidModel(`${file}: model_type must be "${DRAFTER_MODEL_TYPE}", got ${JSON.stringify(o.model_type)}`);
  }
  const int = (key: string, min: number): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw invalidModel(`${file}: ${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const rnn = o.rnn ?? false;  // Apple's DrafterConfig default
  if (typeof rnn !== 'boolean') throw invalidModel(`${file}: rnn must be a boolean, got ${JSON.stringify(rnn)}`);
  return {
    vocabSize: int('vocab_size', 1),
    hiddenSize: int('hidden_size', 1),
    exitDim: int('exit_dim', 1),
    numDraftLayers: int('num_draft_layers', 0),
    rnn,
  };
}

/**
 * Throws ERR_REDRAFTER_INVALID_MODEL naming the field and both files unless the weights file can hold the residual
 * blocks the config declares (each has at least one tensor), so that nothing loops over a count the file cannot back.
 */
export function checkDraftLayersFit(numDraftLayers: number, configFile: string, weightsFile: string, tensorsInFile: number): void {
  if (numDraftLayers > tensorsInFile) {
    throw invalidModel(`${configFile}: num_draft_layers ${numDraftLayers} is more residual blocks than ${weightsFile} ` +
      `can hold (it has ${tensorsInFile} tensors)`);
  }
}

/** config.json as Apple's code (transformers' PretrainedConfig) writes and reads it. */
export function drafterConfigJson(config: DrafterConfig, torchDtype: string): Record<string, unknown> {
  return {
    architectures: ['Drafter'],
    model_type: DRAFTER_MODEL_TYPE,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    exit_dim: config.exitDim,
    num_draft_layers: config.numDraftLayers,
    num_lookback_tokens: -1,
    rnn: config.rnn,
    torch_dtype: torchDtype,
  };
}

export interface DrafterTensorShape {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Every tensor of a drafter with this config, in its canonical (state dict) order. */
export function drafterTensorShapes(c: DrafterConfig): DrafterTensorShape[] {
  const list: DrafterTensorShape[] = [];
  if (c.exitDim !== 2 * c.hiddenSize) {
    list.push({ name: 'input_proj.weight', shape: [c.exitDim, 2 * c.hiddenSize] });
    list.push({ name: 'input_proj.bias', shape: [c.exitDim] });
  }
  for (let i = 0; i < c.numDraftLayers; i++) {
    list.push({ name: `lm_head.${i}.linear.weight`, shape: [c.exitDim, c.exitDim] });
    list.push({ name: `lm_head.${i}.linear.bias`, shape: [c.exitDim] });
  }
  list.push({ name: `lm_head.${c.numDraftLayers}.weight`, shape: [c.vocabSize, c.exitDim] });
  if (c.rnn) {
    list.push({ name: 'rnn_u.weight', shape: [c.hiddenSize, c.hiddenSize] });
    list.push({ name: 'rnn_u.bias', shape: [c.hiddenSize] });
    list.push({ name: 'rnn_w.weight', shape: [c.hiddenSize, c.hiddenSize] });
  }
  return list;
}

/** The model a drafter is paired with: its hidden size and vocabulary (a ModelConfig has both). */
export interface DrafterModelInfo {
  readonly dim: number;
  readonly vocabSize: number;
  readonly path?: string;
}

/** Throws ERR_REDRAFTER_INVALID_MODEL naming both values unless the drafter fits the model. */
export function checkDrafterMatchesModel(config: DrafterConfig, source: string, model: DrafterModelInfo): void {
  const where = model.path ? ` (${model.path})` : '';
  if (config.hiddenSize !== model.dim) {
    throw invalidModel(`${source}: drafter hidden_size ${config.hiddenSize} does not match the model's hidden size ` +
      `${model.dim}${where}`);
  }
  if (config.vocabSize !== model.vocabSize) {
    throw invalidModel(`${source}: drafter vocab_size ${config.vocabSize} does not match the model's vocabulary size ` +
      `${model.vocabSize}${where}`);
  }
}
