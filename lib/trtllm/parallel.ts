// Multi-GPU TensorRT-LLM engines (tp_size * pp_size ranks) from Node, in the two modes of TensorRT-LLM's Executor
// API (ParallelConfig / OrchestratorConfig in tensorrt_llm/executor/executor.h):
//   orchestrator  one Node process (not under mpirun); the Executor spawns the ranks itself (MPI_Comm_spawn of
//                 TensorRT-LLM's executorWorker) and this process only orchestrates;
//   leader        Node started by `mpirun -n <ranks>`; every rank loads the engine, rank 0 (the leader) takes the
//                 requests, the other ranks run TensorRT-LLM's worker loop until rank 0 disposes its engine.
// This file decides which (from the engine's rank count and the MPI environment) and makes the command lines; the
// native side (native/trtllm) turns the decision into a ParallelConfig. Not verified on multi-GPU hardware.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { codedError, ErrorCodes, invalidArgument, type RedrafterError } from '../errors.js';
import { findOnPath, formatCommand } from './trtllm-build.js';

export interface MpiWorld {
  rank: number;
  size: number;
}

/** This process's MPI rank and world size from the launcher's environment (Open MPI, PMIx, MPICH/Intel MPI, MVAPICH). */
export function mpiWorld(env: NodeJS.ProcessEnv = process.env): MpiWorld {
  const pairs: Array<[string, string]> = [
    ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE'],
    ['PMIX_RANK', 'OMPI_COMM_WORLD_SIZE'],
    ['PMI_RANK', 'PMI_SIZE'],
    ['MV2_COMM_WORLD_RANK', 'MV2_COMM_WORLD_SIZE'],
  ];
  for (const [rankVar, sizeVar] of pairs) {
    const rank = env[rankVar];
    const size = env[sizeVar];
    if (rank === undefined || size === undefined) continue;
    const r = Number(rank);
    const s = Number(size);
    if (Number.isInteger(r) && Number.isInteger(s) && s >= 1 && r >= 0 && r < s) return { rank: r, size: s };
  }
  return { rank: 0, size: 1 };
}

export type ParallelModeOption = 'auto' | 'orchestrator' | 'leader';

export type ParallelPlan =
  | { mode: 'single'; worldSize: 1 }
  | { mode: 'orchestrator'; worldSize: number; workerExecutable: string }
  /** serves: this rank takes requests (rank 0); the others only keep the engine running. */
  | { mode: 'leader'; worldSize: number; rank: number; serves: boolean };

function unsupported(message: string): RedrafterError {
  return codedError(ErrorCodes.UNSUPPORTED, message);
}

/** The command that starts `argv` (e.g. process.argv) as `worldSize` MPI ranks in leader mode. */
export function mpirunCommand(worldSize: number, argv: readonly string[]): string {
  return formatCommand('mpirun', ['-n', String(worldSize), ...argv]);
}

/**
 * TensorRT-LLM's executorWorker for orchestrator mode: `explicit` when given, else TRTLLM_ROOT/bin/executorWorker
 * (the pip package's layout), TRTLLM_ROOT/cpp/build/tensorrt_llm/executor_worker/executorWorker (a source build),
 * else executorWorker on PATH.
 */
export function findExecutorWorker(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (explicit !== undefined) return existsSync(explicit) ? explicit : undefined;
  const root = env.TRTLLM_ROOT;
  if (root) {
    for (const p of [join(root, 'bin', 'executorWorker'), join(root, 'cpp', 'build', 'tensorrt_llm', 'executor_worker', 'executorWorker')]) {
      if (existsSync(p)) return p;
    }
  }
  return findOnPath('executorWorker', env.PATH ?? '');
}

/**
 * How to run an engine of `engineRanks` (tp_size * pp_size) ranks in this process. `option` 'auto' (the default)
 * is orchestrator mode outside mpirun and leader mode under it; naming a mode that the environment contradicts is
 * an error saying what to run instead.
 */
export function chooseParallelPlan(
  engineRanks: number,
  world: MpiWorld,
  option: ParallelModeOption = 'auto',
  workerExecutable: string | undefined = undefined,
  argv: readonly string[] = process.argv,
  env: NodeJS.ProcessEnv = process.env,
): ParallelPlan {
  if (option !== 'auto' && option !== 'orchestrator' && option !== 'leader')
    throw invalidArgument('parallelMode', `must be 'auto', 'orchestrator' or 'leader', got ${JSON.stringify(option)}`, 'range');
  if (engineRanks === 1) {
    if (world.size !== 1) {
      throw unsupported(`the engine has 1 rank but this process is rank ${world.rank} of ${world.size} (mpirun -n ${world.size}); ` +
        'run a 1-GPU engine without mpirun');
    }
    return { mode: 'single', worldSize: 1 };
  }
  if (world.size === 1) {
    if (option === 'leader') {
      throw unsupported(`parallelMode 'leader' needs ${engineRanks} MPI ranks; start: ${mpirunCommand(engineRanks, argv)}`);
    }
    const worker = findExecutorWorker(workerExecutable, env);
    if (!worker) {
      if (workerExecutable !== undefined) throw invalidArgument('workerExecutable', `${workerExecutable}: no such file`);
      throw unsupported(`the engine has ${engineRanks} ranks: orchestrator mode needs TensorRT-LLM's executorWorker ` +
        '(set workerExecutable or TRTLLM_ROOT, or put it on PATH), or run in leader mode: ' + mpirunCommand(engineRanks, argv));
    }
    return { mode: 'orchestrator', worldSize: engineRanks, workerExecutable: worker };
  }
  if (world.size !== engineRanks) {
    throw unsupported(`the engine has ${engineRanks} ranks (tp_size * pp_size) but this process is rank ${world.rank} of ` +
      `${world.size}; start: ${mpirunCommand(engineRanks, argv)}`);
  }
  if (option === 'orchestrator') {
    throw unsupported(`parallelMode 'orchestrator' spawns its own ranks: start node without mpirun (this is rank ${world.rank} of ${world.size})`);
  }
  return { mode: 'leader', worldSize: engineRanks, rank: world.rank, serves: world.rank === 0 };
}
