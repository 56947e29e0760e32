// Multi-GPU TensorRT-LLM engines: the mode choice (orchestrator outside mpirun, leader under it), the rank logic
// (only rank 0 serves), and the command lines given when the environment does not fit the engine.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chooseParallelPlan, findExecutorWorker, mpirunCommand, mpiWorld } from '../lib/trtllm/parallel.ts';

const argv = ['/usr/bin/node', '/srv/app/serve.js', '--port', '8080'];
const single = { rank: 0, size: 1 };

test('MPI rank and size come from Open MPI, PMIx, MPICH/Intel MPI or MVAPICH variables; none: rank 0 of 1', () => {
  assert.deepEqual(mpiWorld({}), single);
  assert.deepEqual(mpiWorld({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '4' }), { rank: 1, size: 4 });
  assert.deepEqual(mpiWorld({ PMI_RANK: '3', PMI_SIZE: '4' }), { rank: 3, size: 4 });
  assert.deepEqual(mpiWorld({ MV2_COMM_WORLD_RANK: '0', MV2_COMM_WORLD_SIZE: '2' }), { rank: 0, size: 2 });
  assert.deepEqual(mpiWorld({ PMI_RANK: '4', PMI_SIZE: '4' }), single, 'a rank outside the world is ignored');
  assert.deepEqual(mpiWorld({ OMPI_COMM_WORLD_RANK: 'x', OMPI_COMM_WORLD_SIZE: '2' }), single);
});

test('the mpirun command line quotes what needs quoting', () => {
  assert.equal(mpirunCommand(2, argv), 'mpirun -n 2 /usr/bin/node /srv/app/serve.js --port 8080');
  assert.equal(mpirunCommand(4, ['node', 'my app.js']), "mpirun -n 4 node 'my app.js'");
});

test('a 1-rank engine runs in this process, and refuses to run under mpirun -n N>1', () => {
  assert.deepEqual(chooseParallelPlan(1, single, 'auto', undefined, argv, {}), { mode: 'single', worldSize: 1 });
  assert.throws(() => chooseParallelPlan(1, { rank: 1, size: 2 }, 'auto', undefined, argv, {}),
    { code: 'ERR_REDRAFTER_UNSUPPORTED', message: 'the engine has 1 rank but this process is rank 1 of 2 (mpirun -n 2); run a 1-GPU engine without mpirun' });
});

test('outside mpirun a multi-rank engine runs in orchestrator mode with executorWorker; without it, the mpirun command', () => {
  const root = mkdtempSync(join(tmpdir(), 'redrafter-par-'));
  try {
    mkdirSync(join(root, 'bin'));
    const worker = join(root, 'bin', 'executorWorker');
    writeFileSync(worker, '#!/bin/sh\n');
    chmodSync(worker, 0o755);
    // found in the pip package layout under TRTLLM_ROOT
    assert.deepEqual(chooseParallelPlan(4, single, 'auto', undefined, argv, { TRTLLM_ROOT: root }),
      { mode: 'orchestrator', worldSize: 4, workerExecutable: worker });
    // or on PATH, or given
    assert.equal(findExecutorWorker(undefined, { PATH: join(root, 'bin') }), worker);
    assert.deepEqual(chooseParallelPlan(2, single, 'orchestrator', worker, argv, {}), { mode: 'orchestrator', worldSize: 2, workerExecutable: worker });
    assert.throws(() => chooseParallelPlan(2, single, 'auto', undefined, argv, { PATH: '/nonexistent' }), {
      code: 'ERR_REDRAFTER_UNSUPPORTED',
      message: "the engine has 2 ranks: orchestrator mode needs TensorRT-LLM's executorWorker (set workerExecutable or TRTLLM_ROOT, " +
        'or put it on PATH), or run in leader mode: mpirun -n 2 /usr/bin/node /srv/app/serve.js --port 8080',
    });
    assert.throws(() => chooseParallelPlan(2, single, 'auto', join(root, 'missing'), argv, {}), TypeError);
    // leader mode asked for outside mpirun: the command that starts it
    assert.throws(() => chooseParallelPlan(2, single, 'leader', undefined, argv, { TRTLLM_ROOT: root }),
      /^Error: parallelMode 'leader' needs 2 MPI ranks; start: mpirun -n 2 \/usr\/bin\/node \/srv\/app\/serve\.js --port 8080$/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('under mpirun with as many ranks as the engine: leader mode, only rank 0 serves', () => {
  assert.deepEqual(chooseParallelPlan(2, { rank: 0, size: 2 }, 'auto', undefined, argv, {}), { mode: 'leader', worldSize: 2, rank: 0, serves: true });
  assert.deepEqual(chooseParallelPlan(2, { rank: 1, size: 2 }, 'leader', undefined, argv, {}), { mode: 'leader', worldSize: 2, rank: 1, serves: false });
  assert.deepEqual(chooseParallelPlan(8, { rank: 5, size: 8 }, 'auto', undefined, argv, {}).mode, 'leader');
  assert.throws(() => chooseParallelPlan(4, { rank: 0, size: 2 }, 'auto', undefined, argv, {}), {
    code: 'ERR_REDRAFTER_UNSUPPORTED',
    message: 'the engine has 4 ranks (tp_size * pp_size) but this process is rank 0 of 2; start: mpirun -n 4 /usr/bin/node /srv/app/serve.js --port 8080',
  });
  assert.throws(() => chooseParallelPlan(2, { rank: 0, size: 2 }, 'orchestrator', undefined, argv, {}), /start node without mpirun/);
  assert.throws(() => chooseParallelPlan(2, single, 'spawn' as never, undefined, argv, {}), RangeError);
});
