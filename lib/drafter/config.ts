// Apple's drafter config (apple/ml-recurrent-drafter configuration_drafter.DrafterConfig) and the tensor layout of its
// model.safetensors, as the native side reads and writes them (native/model/drafter_file.h, drafter_weights.h: the
// one home of the format); TypeScript only names the types and asks.
import { native } from '../native.js';

export interface DrafterConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly exitDim: number;
  readonly numDraftLayers: number;
  readonly rnn: boolean;
}

export interface DrafterTensorShape {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Every tensor of a drafter with this config, in its canonical (state dict) order. */
export function drafterTensorShapes(config: DrafterConfig): DrafterTensorShape[] {
  return native().Drafter.tensorShapes(config);
}

/** config.json of a drafter directory, validated; errors (ERR_REDRAFTER_IO, ERR_REDRAFTER_INVALID_MODEL) name the file
 *  and the field. */
export function readDrafterConfig(dir: string): DrafterConfig {
  return native().Drafter.readConfig(dir);
}

/** The model a drafter is paired with: its hidden size and vocabulary (a ModelConfig has both). */
export interface DrafterModelInfo {
  readonly dim: number;
  readonly vocabSize: number;
  readonly path?: string;
}
