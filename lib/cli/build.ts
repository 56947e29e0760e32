// `redrafter build`: base-model TensorRT-LLM checkpoint + Apple-format drafter -> ReDrafter checkpoint -> engine.
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { resolve } from 'node:path';
import { checkpointDtypes, convertCheckpoint, type CheckpointDtype } from '../trtllm/convert-checkpoint.js';
import { findOnPath, formatCommand, runTrtllmBuild, trtllmBuildArgs } from '../trtllm/trtllm-build.js';
import { supportedRangeText } from '../trtllm/versions.js';
import { intArg, noProgressOption } from './args.js';
import { progressShown } from './progress.js';

interface BuildFlags {
  baseCheckpoint: string;
  drafter: string;
  checkpointOut: string;
  engineDir?: string;
  dtype?: CheckpointDtype;
  tpSize?: number;
  numBeams: number;
  draftLenPerBeam: number;
  greedySearch: boolean;
  force?: boolean;
  maxBatchSize: number;
  maxInputLen?: number;
  maxSeqLen?: number;
  maxNumTokens?: number;
  trtllmBuild: string;
  checkpointOnly?: boolean;
  trtllmVersion?: string;
  progress: boolean;
}

export function register(program: Command): void {
  program
    .command('build')
    .description(
      'convert a TensorRT-LLM base-model checkpoint and an Apple ml-recurrent-drafter drafter into a TensorRT-LLM ' +
        'ReDrafter checkpoint (as examples/redrafter/convert_checkpoint.py does), then build the engine with ' +
        'trtllm-build (or print the trtllm-build command when it is not installed)',
    )
    .requiredOption('--base-checkpoint <dir>', 'TensorRT-LLM checkpoint of the base model (config.json + rank*.safetensors)')
    .requiredOption('--drafter <dir>', 'drafter directory (config.json + model.safetensors)')
    .requiredOption('--checkpoint-out <dir>', 'where the ReDrafter checkpoint is written (must not exist unless --force)')
    .option('--engine-dir <dir>', 'trtllm-build --output_dir (default: <checkpoint-out>-engine)')
    .addOption(new Option('--dtype <dtype>', 'drafter weight dtype (default: the base checkpoint dtype)').choices(checkpointDtypes))
    .option('--tp-size <n>', 'tensor-parallel size (must equal the base checkpoint mapping.tp_size)', intArg(1))
    .option('--num-beams <n>', 'redrafter_num_beams', intArg(1), 5)
    .option('--draft-len-per-beam <n>', 'redrafter_draft_len_per_beam', intArg(1), 5)
    .option('--no-greedy-search', 'redrafter_greedy_search = false (sample draft tokens; per-request temperature)')
    .option('--force', 'replace an existing --checkpoint-out')
    .option('--max-batch-size <n>', 'trtllm-build --max_batch_size', intArg(1), 4)
    .option('--max-input-len <n>', 'trtllm-build --max_input_len', intArg(1))
    .option('--max-seq-len <n>', 'trtllm-build --max_seq_len', intArg(1))
    .option('--max-num-tokens <n>', 'trtllm-build --max_num_tokens', intArg(1))
    .option('--trtllm-build <program>', 'the trtllm-build executable', 'trtllm-build')
    .option('--checkpoint-only', 'convert only; print the trtllm-build command instead of running it')
    .option('--trtllm-version <version>', `the TensorRT-LLM release that builds the engine (${supportedRangeText}); ` +
      'decides the checkpoint architecture name; default: the installed one (TRTLLM_ROOT)')
    .addOption(noProgressOption())
    .action(async (flags: BuildFlags) => {
      const bar = progressShown(flags.progress)
        ? new cliProgress.SingleBar({ format: 'converting rank {rank} [{bar}] {value}/{total} {tensor}', hideCursor: true, stream: process.stderr },
          cliProgress.Presets.shades_classic)
        : undefined;
      let barRank = -1;
      let result;
      try {
        result = await convertCheckpoint({
          baseCheckpointDir: flags.baseCheckpoint,
          drafterDir: flags.drafter,
          outputDir: flags.checkpointOut,
          dtype: flags.dtype,
          tpSize: flags.tpSize,
          numBeams: flags.numBeams,
          draftLenPerBeam: flags.draftLenPerBeam,
          greedySearch: flags.greedySearch,
          overwrite: flags.force,
          trtllmVersion: flags.trtllmVersion,
          onProgress: (e) => {
            if (!bar) return;
            if (e.rank !== barRank) {
              if (barRank >= 0) bar.stop();
              bar.start(e.total, 0, { rank: e.rank, tensor: '' });
              barRank = e.rank;
            }
            bar.update(e.done, { rank: e.rank, tensor: e.tensor });
          },
        });
      } finally {
        bar?.stop();
      }
      const d = result.drafter;
      process.stdout.write(
        `wrote ${result.outputDir}: ${result.architecture} (TensorRT-LLM ${result.trtllmVersion}), ${result.dtype}, tp_size ${result.tpSize}, drafter ` +
          `${d.numLayers} layer(s), hidden ${d.hiddenSize}, exit_dim ${d.exitDim}${d.hasInputProj ? ' (input_proj)' : ''}, ` +
          `rnn ${d.rnn}, ${result.totalTensors} tensors\n`,
      );
      const engineDir = resolve(flags.engineDir ?? `${result.outputDir}-engine`);
      const args = trtllmBuildArgs({
        checkpointDir: result.outputDir,
        engineDir,
        gemmPlugin: result.baseDtype,
        numBeams: result.numBeams,
        draftLenPerBeam: result.draftLenPerBeam,
        maxBatchSize: flags.maxBatchSize,
        maxInputLen: flags.maxInputLen,
        maxSeqLen: flags.maxSeqLen,
        maxNumTokens: flags.maxNumTokens,
        workers: result.tpSize > 1 ? result.tpSize : undefined,
      });
      const found = flags.checkpointOnly ? undefined : findOnPath(flags.trtllmBuild);
      if (!found) {
        const why = flags.checkpointOnly ? 'to build the engine, run' : `${flags.trtllmBuild} is not on PATH; to build the engine, run`;
        process.stdout.write(`${why}:\n${formatCommand(flags.trtllmBuild, args)}\n`);
        return;
      }
      process.stdout.write(`running ${formatCommand(found, args)}\n`);
      await runTrtllmBuild(found, args);
      process.stdout.write(`engine written to ${engineDir}\n`);
    });
}
