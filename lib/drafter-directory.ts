// Reads an apple/ml-recurrent-drafter drafter directory (config.json + model.safetensors) into the float32 tensors
// the native executor builds its drafter from.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, type RedrafterError } from './errors.js';
import { SafetensorsReader } from './safetensors.js';

export interface DrafterWeightsObject {
  config: { vocabSize: number; hiddenSize: number; exitDim: number; numDraftLayers: number; rnn: boolean };
  tensors: Record<string, Float32Array>;
  source: string;
}

function invalid(message: string): RedrafterError {
  const e = new Error(message) as RedrafterError;
  e.code = ErrorCodes.INVALID_MODEL;
  return e;
}

export async function readDrafterDirectory(dir: string): Promise<DrafterWeightsObject> {
  const configPath = join(dir, 'config.json');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') {
      const io = new Error(`${configPath}: no such file`) as RedrafterError;
      io.code = ErrorCodes.IO;
      throw io;
    }
    throw invalid(`${configPath}: ${e.message}`);
  }
  const int = (key: string): number => {
    const v = raw[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid(`${configPath}: ${key} must be an integer >= 0`);
    return v;
  };
  if (raw.model_type !== undefined && raw.model_type !== 'recurrent_drafting_drafter')
    throw invalid(`${configPath}: model_type ${JSON.stringify(raw.model_type)} is not "recurrent_drafting_drafter"`);
  const config = {
    vocabSize: int('vocab_size'),
    hiddenSize: int('hidden_size'),
    exitDim: int('exit_dim'),
    numDraftLayers: int('num_draft_layers'),
    rnn: raw.rnn === undefined ? true : Boolean(raw.rnn),
  };
  const reader = await SafetensorsReader.open(join(dir, 'model.safetensors'));
  try {
    const tensors: Record<string, Float32Array> = {};
    for (const name of reader.names()) tensors[name] = await reader.readFloat32(name);
    return { config, tensors, source: dir };
  } finally {
    await reader.close();
  }
}
