// Training a drafter by self-distillation (ReDrafter paper section 3.5) and measuring its exact greedy acceptance.
import { native, type NativeAcceptanceOptions, type NativeAcceptanceRow, type NativeDrafterTrainingOptions, type NativeTrainingProgress,
  type NativeTrainingResult } from '../native.js';
import { Model } from '../model.js';
import { Drafter } from './drafter.js';

export type TrainDrafterOptions = Omit<NativeDrafterTrainingOptions, 'model'>;
export type TrainingProgress = NativeTrainingProgress;
export type TrainingResult = NativeTrainingResult;
export type AcceptanceRow = NativeAcceptanceRow;

/** Short story openers the default training uses (with a tokenizer). */
export const defaultTrainingPrompts: readonly string[] = [
  'Once upon a time', 'One day', 'There was a', 'Tom and', 'Lily wanted to', 'The little', 'Sue saw a',
  'Ben liked to', 'Mom said', 'A big', 'In the park', 'The cat', 'The dog', 'Sara had a', 'Tim was',
  'They went to', 'She was very', 'He wanted', 'The sun', 'At night', 'The bird', 'Max found a', 'Anna and her',
  'It was a', 'The girl', 'The boy', 'One morning', 'Jack', 'The king', 'A little',
];

/** Held-out prompts for the evaluation: none of them is a training prompt. */
export const defaultEvaluationPrompts: readonly string[] = [
  'Lucy looked at the', 'The old man', 'Every day, the', 'Spot the puppy', 'Mia was sad because',
  'The red car', 'Grandpa told', 'On a rainy day', 'The fish swam', 'Two friends',
  'Bob could not find', 'The teacher said', 'A small mouse', 'The happy frog', 'Emma went outside',
  'The tall tree',
];

/** A running training: `result` settles when it ends; stop() ends it early with a usable checkpoint. */
export interface DrafterTrainingRun {
  readonly result: Promise<TrainingResult>;
  stop(): void;
}

export function startDrafterTraining(model: Model, options: TrainDrafterOptions,
  onProgress?: (p: TrainingProgress) => void): DrafterTrainingRun {
  const training = new (native().DrafterTraining)({ ...options, model: model.nativeModel });
  const result = training.run(onProgress);
  return { result, stop: () => training.stop() };
}

/** What measureAcceptance replays: NativeAcceptanceOptions without the model and drafter (given as arguments). */
export type AcceptanceOptions = Omit<NativeAcceptanceOptions, 'model' | 'drafter'>;

/** Tokens per step of greedy speculative decoding, replayed exactly on held-out greedy texts of the model. */
export function measureAcceptance(model: Model, drafter: Drafter, options: AcceptanceOptions):
  Promise<{ rows: AcceptanceRow[]; texts: number; tokens: number }> {
  return native().measureDrafterAcceptance({ ...options, model: model.nativeModel, drafter: drafter.nativeDrafter });
}
