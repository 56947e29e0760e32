// Running TensorRT-LLM's `trtllm-build` on a converted ReDrafter checkpoint. The flags a ReDrafter engine needs
// (examples/redrafter/README.md and tensorrt_llm/commands/build.py of the supported releases):
//   --gemm_plugin <the base model's dtype>
//   --speculative_decoding_mode explicit_draft_tokens   ReDrafter's category
//   --use_paged_context_fmha enable                      KV-cache block reuse (the backend's multi-turn sessions)
//                                                       and chunked context need it
//   --max_draft_len <redrafter_num_beams * redrafter_draft_len_per_beam>
// trtllm-build reads the beam count and draft length from the checkpoint's redrafter_num_beams /
// redrafter_draft_len_per_beam, sets max_draft_len to their product (the value passed here, so the command says
// what the engine gets), adds it to max_seq_len (so --max_seq_len stays the prompt + generated tokens a request
// may use) and raises max_num_tokens to at least max_batch_size * (max_draft_len + 1).
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { codedError, ErrorCodes, type RedrafterError } from '../errors.js';

export interface TrtllmBuildOptions {
  checkpointDir: string;
  engineDir: string;
  /** --gemm_plugin: the base model's dtype (or 'auto'/'disable'). */
  gemmPlugin: string;
  /** redrafter_num_beams and redrafter_draft_len_per_beam of the checkpoint: --max_draft_len is their product. */
  numBeams: number;
  draftLenPerBeam: number;
  maxBatchSize?: number;
  maxInputLen?: number;
  maxSeqLen?: number;
  maxNumTokens?: number;
  /** --workers: build ranks in parallel. */
  workers?: number;
  /** Extra arguments passed through unchanged. */
  extraArgs?: readonly string[];
}

/** The argument vector (without the program name). */
export function trtllmBuildArgs(o: TrtllmBuildOptions): string[] {
  const args = [
    '--checkpoint_dir', o.checkpointDir,
    '--output_dir', o.engineDir,
    '--gemm_plugin', o.gemmPlugin,
    '--speculative_decoding_mode', 'explicit_draft_tokens',
    '--use_paged_context_fmha', 'enable',
    '--max_draft_len', String(o.numBeams * o.draftLenPerBeam),
  ];
  if (o.maxBatchSize !== undefined) args.push('--max_batch_size', String(o.maxBatchSize));
  if (o.maxInputLen !== undefined) args.push('--max_input_len', String(o.maxInputLen));
  if (o.maxSeqLen !== undefined) args.push('--max_seq_len', String(o.maxSeqLen));
  if (o.maxNumTokens !== undefined) args.push('--max_num_tokens', String(o.maxNumTokens));
  if (o.workers !== undefined) args.push('--workers', String(o.workers));
  if (o.extraArgs) args.push(...o.extraArgs);
  return args;
}

/** POSIX-shell quoting, so the printed command can be pasted as is. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function formatCommand(program: string, args: readonly string[]): string {
  return [program, ...args].map(shellQuote).join(' ');
}

/** The full path of `program` on PATH (or `program` itself when it is a path and executable), else undefined. */
export function findOnPath(program: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (program.includes('/')) return executable(program) ? (isAbsolute(program) ? program : join(process.cwd(), program)) : undefined;
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Runs trtllm-build with its output streamed to ours (its own progress logging is the progress shown). Resolves on
 * exit code 0; rejects with ERR_REDRAFTER_BACKEND naming the exit code / signal and the last line it printed.
 */
export function runTrtllmBuild(
  program: string,
  args: readonly string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process,
): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let lastLine = '';
    const track = (chunk: Buffer, out: NodeJS.WritableStream) => {
      out.write(chunk);
      const lines = chunk.toString('utf8').split('\n').map((l) => l.trim()).filter(Boolean);
      if (lines.length) lastLine = lines[lines.length - 1]!;
    };
    child.stdout.on('data', (c: Buffer) => track(c, io.stdout));
    child.stderr.on('data', (c: Buffer) => track(c, io.stderr));
    child.on('error', (e) => {
      reject(codedError(ErrorCodes.BACKEND, `trtllm-build could not be started (${program}): ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolveRun();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(codedError(ErrorCodes.BACKEND, `trtllm-build ${how}${lastLine ? `: ${lastLine}` : ''}`));
    });
  });
}
