// Running TensorRT-LLM's `trtllm-build` on a converted ReDrafter checkpoint, with the flags the TensorRT-LLM
// redrafter example uses (examples/redrafter/README.md): --gemm_plugin <dtype> and
// --speculative_decoding_mode explicit_draft_tokens (ReDrafter's category in TensorRT-LLM).
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { ErrorCodes, type RedrafterError } from '../errors.js';

export interface TrtllmBuildOptions {
  checkpointDir: string;
  engineDir: string;
  /** --gemm_plugin: the checkpoint dtype (or 'auto'/'disable'). */
  gemmPlugin: string;
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
      const error = new Error(`trtllm-build could not be started (${program}): ${e.message}`) as RedrafterError;
      error.code = ErrorCodes.BACKEND;
      reject(error);
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolveRun();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const error = new Error(`trtllm-build ${how}${lastLine ? `: ${lastLine}` : ''}`) as RedrafterError;
      error.code = ErrorCodes.BACKEND;
      reject(error);
    });
  });
}
