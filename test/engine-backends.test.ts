// loadEngine's backends: 'auto' selection, the tensorrt-llm backend's options, its module (redrafter_trtllm.node: the
// loader's search and errors, a CPU addon without TensorRT-LLM), and the
// Hugging Face tokenizer as the sessions' TextCodec (test/fixtures/hf-tokenizer: a byte-level BPE tokenizer.json with a
// chat template and two end ids). Runs without a GPU; running a TensorRT-LLM engine needs one (docs/tensorrt-llm.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { optionsFor, selectBackend } from '../lib/backend-select.ts';
import { loadEngine } from '../lib/engine.ts';
import { resolveSessionOptions } from '../lib/generation-options.ts';
import { addonCandidates, backendModuleCandidates, backendModulePresent, loadBackendModule, native } from '../lib/native.ts';
import { resolveAutoBackend } from '../lib/trtllm/engine.ts';
import { HfTokenizer } from '../lib/trtllm/hf-tokenizer.ts';
import { HfTextCodec } from '../lib/trtllm/text-codec.ts';
import { fixtures, knownGoodFirstTokens, repoRoot, requireFixtures } from './helpers/fixtures.ts';

requireFixtures();
const tokenizerDir = join(repoRoot, 'test', 'fixtures', 'hf-tokenizer');
const trtLlmBuilt = backendModulePresent('tensorrt-llm');
const gpu = () => true;
const noGpu = () => false;
const cudaBuilt = () => true;
const noCuda = () => false;
const trt = () => true;
const noTrt = () => false;

/** An engine directory as trtllm-build lays it out (config.json + rank0.engine; the engine bytes are not read). */
function engineDir(root: string): string {
  const dir = join(root, 'engine');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    version: '0.15.0.dev2024101500',
    pretrained_config: {
      architecture: 'ReDrafterForLLaMALM', dtype: 'float16', vocab_size: 32, hidden_size: 8,
      mapping: { world_size: 1, tp_size: 1, pp_size: 1 },
      redrafter_num_beams: 4, redrafter_draft_len_per_beam: 3, redrafter_greedy_search: true,
    },
    build_config: { max_batch_size: 8, max_input_len: 100, max_seq_len: 200 },
  }));
  writeFileSync(join(dir, 'rank0.engine'), '');
  return dir;
}

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'redrafter-backends-'));
  try {
    await fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('resolveAutoBackend: tensorrt-llm only when its module is present and a GPU is', () => {
  assert.equal(resolveAutoBackend(noTrt, gpu), 'cpu');
  assert.equal(resolveAutoBackend(noTrt, noGpu), 'cpu');
  assert.equal(resolveAutoBackend(trt, gpu), 'tensorrt-llm');
  assert.equal(resolveAutoBackend(trt, noGpu), 'cpu');
  const saved = process.env.CUDA_VISIBLE_DEVICES;
  process.env.CUDA_VISIBLE_DEVICES = '';  // no device visible: the real GPU probe says no
  try {
    assert.equal(resolveAutoBackend(trt), 'cpu');
  } finally {
    if (saved === undefined) delete process.env.CUDA_VISIBLE_DEVICES;
    else process.env.CUDA_VISIBLE_DEVICES = saved;
  }
});

test('selectBackend: explicit backends pass, auto needs engineDir for TensorRT-LLM, and says why it cannot', () => {
  assert.equal(selectBackend({ backend: 'cpu', engineDir: 'e' }, trt, gpu, cudaBuilt), 'cpu');
  assert.equal(selectBackend({ backend: 'tensorrt-llm' }, noTrt, noGpu, noCuda), 'tensorrt-llm');
  assert.equal(selectBackend({ backend: 'cuda' }, noTrt, noGpu, noCuda), 'cuda');  // explicit: its loader says why not
  assert.equal(selectBackend({ model: 'm' }, trt, gpu, noCuda), 'cpu');  // nothing for TensorRT-LLM to load
  assert.equal(selectBackend({ engineDir: 'e' }, trt, gpu, noCuda), 'tensorrt-llm');
  assert.equal(selectBackend({ backend: 'auto', engineDir: 'e', model: 'm' }, trt, gpu, cudaBuilt), 'tensorrt-llm');
  assert.equal(selectBackend({ engineDir: 'e', model: 'm' }, trt, noGpu, cudaBuilt), 'cpu');
  assert.equal(selectBackend({ engineDir: 'e', model: 'm' }, noTrt, gpu, noCuda), 'cpu');
  assert.throws(() => selectBackend({ engineDir: 'e' }, noTrt, gpu, noCuda),
    { code: 'ERR_REDRAFTER_UNSUPPORTED', message: /^backend 'auto': engineDir is a TensorRT-LLM engine but the TensorRT-LLM module redrafter_trtllm\.node is not built; .*TRTLLM_ROOT=.*give model$/ });
  assert.throws(() => selectBackend({ engineDir: 'e' }, trt, noGpu, noCuda),
    { code: 'ERR_REDRAFTER_UNSUPPORTED', message: /no NVIDIA GPU is visible/ });
  assert.throws(() => selectBackend({ backend: 'metal' }, trt, gpu, noCuda), { name: 'RangeError', message: /^backend must be 'cpu', 'cuda'/ });
});

test('selectBackend auto: the CUDA engine for a model where a GPU is visible and its module is built, else the CPU engine', () => {
  assert.equal(selectBackend({ model: 'm' }, noTrt, gpu, cudaBuilt), 'cuda');
  assert.equal(selectBackend({ model: 'm', drafter: 'dir' }, noTrt, gpu, cudaBuilt), 'cuda');
  assert.equal(selectBackend({ model: 'm', drafter: null }, noTrt, gpu, cudaBuilt), 'cuda');
  assert.equal(selectBackend({ model: 'm' }, noTrt, noGpu, cudaBuilt), 'cpu');
  assert.equal(selectBackend({ model: 'm' }, noTrt, gpu, noCuda), 'cpu');
  // a loaded Drafter belongs to the CPU engine
  assert.equal(selectBackend({ model: 'm', drafter: {} }, noTrt, gpu, cudaBuilt), 'cpu');
  // an engine directory TensorRT-LLM cannot run here, with a model: the CUDA engine runs the model
  assert.equal(selectBackend({ engineDir: 'e', model: 'm' }, noTrt, gpu, cudaBuilt), 'cuda');
  assert.equal(selectBackend({ engineDir: 'e', model: 'm' }, trt, gpu, cudaBuilt), 'tensorrt-llm');
});

test('optionsFor cuda: the CPU engine\'s own options are dropped by auto and named when cuda is explicit', () => {
  const options = { model: 'm', tokenizer: 't', threads: 2, device: 1, drafter: 'd', engineDir: 'e' };
  assert.deepEqual(optionsFor(options, 'cuda', false), { backend: 'cuda', model: 'm', tokenizer: 't', device: 1, drafter: 'd' });
  assert.throws(() => optionsFor({ model: 'm', threads: 2 }, 'cuda', true),
    { name: 'TypeError', message: /^threads is not an option of the cuda backend/ });
  assert.throws(() => optionsFor({ model: 'm', device: 0 }, 'cpu', true),
    { name: 'TypeError', message: /^device is not an option of the cpu backend/ });
});

test('backend cuda without a GPU or its module: a coded error, and the CPU addon stays usable', async () => {
  const cases: Array<[Record<string, unknown>, Record<string, unknown>]> = [
    [{}, { name: 'TypeError', code: 'ERR_REDRAFTER_INVALID_ARGUMENT', message: /^model is required for the cuda backend/ }],
    [{ model: fixtures.stories260K, drafter: {} }, { name: 'TypeError', message: /^drafter must be the drafter directory/ }],
    [{ model: fixtures.stories260K, device: -1 }, { name: 'RangeError', message: /^device must be in/ }],
    [{ model: '/nonexistent/model.gguf' }, { code: 'ERR_REDRAFTER_IO', message: /model \/nonexistent\/model\.gguf/ }],
  ];
  for (const [options, expected] of cases)
    await assert.rejects(loadEngine({ backend: 'cuda', tokenizer: fixtures.tok512, ...options }), expected, JSON.stringify(options));
  // the real attempt: the module is absent (UNSUPPORTED, naming where it looked), or present and refuses this
  // machine or model with a coded error (no GPU here; stories260K's head size 8 is not one of 64 and 128)
  const err = await loadEngine({ backend: 'cuda', model: fixtures.stories260K, tokenizer: fixtures.tok512 }).then(
    () => assert.fail('the cuda backend loaded stories260K'),
    (e: Error & { code?: string }) => e,
  );
  assert.match(String(err.code), /^ERR_REDRAFTER_(UNSUPPORTED|BACKEND)$/, err.message);
  if (!backendModulePresent('cuda')) assert.match(err.message, /redrafter_cuda\.node is not built \(looked in /);
  else assert.match(err.message, /head size 8 is not supported by the cuda backend|NVIDIA GPU|driver/);
  // the CPU addon is unaffected
  const engine = await loadEngine({ backend: 'cpu', model: fixtures.stories260K, tokenizer: fixtures.tok512, threads: 1 });
  try {
    const r = await engine.createSession({ beamWidth: 0 }).complete('', { maxTokens: knownGoodFirstTokens.length });
    assert.deepEqual(r.tokens, knownGoodFirstTokens);
  } finally {
    await engine.dispose();
  }
});

test('the cuda module, where built, loads without a GPU and registers only its backend', { skip: !backendModulePresent('cuda') && 'redrafter_cuda.node is not built here' }, () => {
  const m = loadBackendModule('cuda');
  assert.deepEqual([...m.executor.backends], ['cuda']);
  assert.equal(typeof m.executor.loadEngine, 'function');
});

test('the native options readers parse each backend\'s options once, by name, refusing a wrong type naming the field', () => {
  const onResponses = () => undefined;
  const cpu = native().executor;
  const raw = (o: Record<string, unknown>) => o as unknown as Parameters<typeof cpu.loadEngine>[0];  // wrong types on purpose
  assert.throws(() => cpu.loadEngine(raw({ backend: 'cpu', model: fixtures.stories260K, threads: 'two' }), onResponses),
    (e: NodeJS.ErrnoException) => e.code === 'ERR_REDRAFTER_INVALID_ARGUMENT' && /^threads must be an integer/.test(e.message));
  assert.throws(() => cpu.loadEngine(raw({ backend: 'cpu', model: fixtures.stories260K, drafter: {} }), onResponses),
    { message: /^drafter must be a Drafter/ });
  assert.throws(() => cpu.loadEngine(raw({ backend: 'cpu' }), onResponses), { message: /^model must be a path to a model file/ });
  if (!backendModulePresent('cuda')) return;
  // the cuda reader refuses before any device is touched (a map of numbers used to skip a string silently)
  const cuda = loadBackendModule('cuda').executor;
  assert.throws(() => cuda.loadEngine(raw({ backend: 'cuda', model: fixtures.stories260K, maxBeamWidth: '8' }), onResponses),
    (e: NodeJS.ErrnoException) => e.code === 'ERR_REDRAFTER_INVALID_ARGUMENT' && /^maxBeamWidth must be an integer/.test(e.message));
  assert.throws(() => cuda.loadEngine(raw({ backend: 'cuda', model: fixtures.stories260K, cudaGraphs: 1 }), onResponses),
    { message: /^cudaGraphs must be a boolean/ });
});

test('optionsFor: auto drops the other backend\'s options, an explicit backend names the stray one', () => {
  const options = { model: 'm', engineDir: 'e', tokenizer: 't', threads: 2, freeGpuMemoryFraction: 0.5, drafter: null, contextLength: undefined };
  assert.deepEqual(optionsFor(options, 'cpu', false), { backend: 'cpu', model: 'm', tokenizer: 't', threads: 2, drafter: null });
  assert.deepEqual(optionsFor(options, 'tensorrt-llm', false), { backend: 'tensorrt-llm', engineDir: 'e', tokenizer: 't', freeGpuMemoryFraction: 0.5 });
  assert.throws(() => optionsFor({ model: 'm', freeGpuMemoryFraction: 0.5 }, 'cpu', true),
    { name: 'TypeError', message: /^freeGpuMemoryFraction is not an option of the cpu backend/ });
  assert.throws(() => optionsFor({ engineDir: 'e', drafter: 'd' }, 'tensorrt-llm', true),
    { name: 'TypeError', message: /^drafter is not an option of the tensorrt-llm backend \(a TensorRT-LLM engine has its drafter built in\)/ });
  assert.deepEqual(optionsFor({ engineDir: 'e', drafter: null }, 'tensorrt-llm', true), { backend: 'tensorrt-llm', engineDir: 'e' });
});

test('backend auto is the CPU engine here and generates (the same tokens as backend cpu)', { skip: trtLlmBuilt && 'this addon has tensorrt-llm' }, async () => {
  const results = [];
  for (const backend of ['auto', undefined, 'cpu'] as const) {
    // engineDir is ignored by 'auto' when TensorRT-LLM is not usable and a model is given
    const engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, threads: 1, backend,
      ...(backend === 'auto' ? { engineDir: '/nonexistent/engine' } : {}) });
    try {
      assert.equal(engine.info.backend, 'cpu');
      results.push(await engine.createSession({ beamWidth: 0 }).complete('', { maxTokens: knownGoodFirstTokens.length }));
    } finally {
      await engine.dispose();
    }
  }
  assert.deepEqual(results[0]!.tokens, knownGoodFirstTokens);
  for (const r of results) {
    assert.deepEqual(r.tokens, results[0]!.tokens);
    assert.equal(r.text, results[0]!.text);
    assert.ok(r.text.length > 0);
  }
});

test('backend tensorrt-llm: option errors name the field or file, before anything else', async () => {
  await withRoot(async (root) => {
    const dir = engineDir(root);
    const cases: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{ tokenizer: tokenizerDir }, { name: 'TypeError', code: 'ERR_REDRAFTER_INVALID_ARGUMENT', message: /^engineDir must be the directory trtllm-build wrote/ }],
      [{ engineDir: '', tokenizer: tokenizerDir }, { name: 'TypeError', message: /^engineDir / }],
      [{ engineDir: dir }, { name: 'TypeError', message: /^tokenizer must be a tokenizer\.json path or a model directory/ }],
      [{ engineDir: join(root, 'missing'), tokenizer: tokenizerDir }, { code: 'ERR_REDRAFTER_IO', message: /missing.*the engine directory does not exist/ }],
      [{ engineDir: dir, tokenizer: join(root, 'no-tokenizer') }, { code: 'ERR_REDRAFTER_IO', message: /no-tokenizer: the tokenizer does not exist/ }],
      [{ engineDir: dir, tokenizer: tokenizerDir, threads: 2 }, { name: 'TypeError', message: /^threads is not an option of the tensorrt-llm backend/ }],
      [{ engineDir: dir, tokenizer: tokenizerDir, model: fixtures.stories260K }, { name: 'TypeError', message: /^model is not an option of the tensorrt-llm backend/ }],
      [{ engineDir: dir, tokenizer: tokenizerDir, drafter: 'x' }, { name: 'TypeError', message: /^drafter is not an option/ }],
      [{ engineDir: dir, tokenizer: tokenizerDir, freeGpuMemoryFraction: 1.5 }, { name: 'RangeError', message: /^freeGpuMemoryFraction must be in \(0, 1\]/ }],
      [{ engineDir: dir, tokenizer: tokenizerDir, maxBatchSize: 9 }, { name: 'RangeError', message: /^maxBatchSize must be <= the engine's max_batch_size 8/ }],
    ];
    for (const [options, expected] of cases) {
      await assert.rejects(loadEngine({ backend: 'tensorrt-llm', ...options }), expected, JSON.stringify(options));
    }
    // the cpu backend names a TensorRT-LLM option passed to it
    await assert.rejects(loadEngine({ backend: 'cpu', model: fixtures.stories260K, tokenizer: fixtures.tok512, engineDir: dir }),
      { name: 'TypeError', message: /^engineDir is not an option of the cpu backend/ });
  });
});

test('backend tensorrt-llm without its module: ERR_REDRAFTER_UNSUPPORTED saying how to build it', { skip: trtLlmBuilt && 'redrafter_trtllm.node is built here' }, async () => {
  await withRoot(async (root) => {
    const dir = engineDir(root);
    await assert.rejects(loadEngine({ backend: 'tensorrt-llm', engineDir: dir, tokenizer: tokenizerDir, drafter: null }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_REDRAFTER_UNSUPPORTED');
      assert.match(e.message, /^backend 'tensorrt-llm': the module redrafter_trtllm\.node is not built \(looked in .*build-cmake\/Release\/redrafter_trtllm\.node\); it is built by `npm run build` where TensorRT-LLM .*TRTLLM_ROOT=.*npx cmake-js compile/);
      return true;
    });
    // 'auto' with only an engine directory says why it cannot run it
    await assert.rejects(loadEngine({ engineDir: dir, tokenizer: tokenizerDir }),
      { code: 'ERR_REDRAFTER_UNSUPPORTED', message: /^backend 'auto': engineDir is a TensorRT-LLM engine but (the TensorRT-LLM module redrafter_trtllm\.node is not built|no NVIDIA GPU)/ });
    // the CLI: one line on stderr, exit code 1
    const cli = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib', 'cli', 'main.ts'), 'generate',
      '--backend', 'tensorrt-llm', '--engine-dir', dir, '--tokenizer', tokenizerDir, '--prompt', 'once'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    assert.equal(cli.status, 1, cli.stderr);
    assert.match(cli.stderr, /^redrafter: backend 'tensorrt-llm': the module redrafter_trtllm\.node is not built .*\[ERR_REDRAFTER_UNSUPPORTED\]\n$/);
  });
});

/** Runs `fn` with environment variable `name` set to `value`, restoring it afterwards. */
async function withEnv(name: string, value: string, fn: () => Promise<void> | void): Promise<void> {
  const saved = process.env[name];
  process.env[name] = value;
  try {
    await fn();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

test('backend modules are looked for at their variable first, then in the cmake-js build', async () => {
  for (const [name, variable, file] of [['tensorrt-llm', 'REDRAFTER_TRTLLM_ADDON', 'redrafter_trtllm.node'], ['cuda', 'REDRAFTER_CUDA_ADDON', 'redrafter_cuda.node']] as const) {
    await withEnv(variable, '/elsewhere/custom.node', () => {
      assert.deepEqual(backendModuleCandidates(name), ['/elsewhere/custom.node', join(repoRoot, 'build-cmake', 'Release', file)]);
    });
  }
  await withRoot(async (root) => {
    const missing = join(root, 'missing.node');
    await withEnv('REDRAFTER_TRTLLM_ADDON', missing, () => {
      if (existsSync(join(repoRoot, 'build-cmake', 'Release', 'redrafter_trtllm.node'))) return;  // found there instead
      assert.equal(backendModulePresent('tensorrt-llm'), false);
      assert.throws(() => loadBackendModule('tensorrt-llm'), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_REDRAFTER_UNSUPPORTED');
        assert.ok(e.message.includes(`(looked in ${missing}, ${join(repoRoot, 'build-cmake', 'Release', 'redrafter_trtllm.node')})`), e.message);
        return true;
      });
    });
  });
});

/**
 * A stand-in for redrafter_trtllm.node whose libtensorrt_llm.so is gone (built against one, then it was removed: the
 * "absent or moved" case), made with the C compiler; undefined without one.
 */
function moduleWithMissingLibrary(root: string): string | undefined {
  const cc = process.env.CC ?? 'cc';
  if (spawnSync(cc, ['--version'], { encoding: 'utf8' }).status !== 0) return undefined;
  const lib = join(root, 'lib');
  mkdirSync(lib);
  writeFileSync(join(root, 'lib.c'), 'int tensorrt_llm_stand_in(void) { return 1; }\n');
  writeFileSync(join(root, 'module.c'), 'int tensorrt_llm_stand_in(void);\nint module_uses_it(void) { return tensorrt_llm_stand_in(); }\n');
  const module = join(root, 'redrafter_trtllm.node');
  for (const args of [
    ['-shared', '-fPIC', '-o', join(lib, 'libtensorrt_llm.so'), join(root, 'lib.c')],
    ['-shared', '-fPIC', '-o', module, join(root, 'module.c'), '-Wl,--no-as-needed', `-L${lib}`, '-ltensorrt_llm'],
  ]) {
    const r = spawnSync(cc, args, { encoding: 'utf8' });
    if (r.status !== 0) return undefined;
  }
  rmSync(lib, { recursive: true });
  return module;
}

test('a backend module that cannot be loaded (libtensorrt_llm missing): ERR_REDRAFTER_BACKEND with the loader\'s message and how to build it; the CPU addon is unaffected', { skip: process.platform !== 'linux' && 'ELF shared objects' }, async (t) => {
  await withRoot(async (root) => {
    const module = moduleWithMissingLibrary(root);
    if (!module) return t.skip('no C compiler to make the stand-in module');
    await withEnv('REDRAFTER_TRTLLM_ADDON', module, async () => {
      assert.equal(backendModulePresent('tensorrt-llm'), true);
      const expected = (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_REDRAFTER_BACKEND');
        assert.ok(e.message.startsWith(`backend 'tensorrt-llm': ${module} could not be loaded: `), e.message);
        assert.match(e.message, /libtensorrt_llm\.so: cannot open shared object file: No such file or directory; it is built by `npm run build` where TensorRT-LLM .*TRTLLM_ROOT=/);
        return true;
      };
      assert.throws(() => loadBackendModule('tensorrt-llm'), expected);
      const dir = engineDir(root);
      await assert.rejects(loadEngine({ backend: 'tensorrt-llm', engineDir: dir, tokenizer: tokenizerDir }), expected);
    });
  });
  const engine = await loadEngine({ backend: 'cpu', model: fixtures.stories260K, tokenizer: fixtures.tok512, threads: 1 });
  try {
    assert.deepEqual((await engine.createSession({ beamWidth: 0 }).complete('', { maxTokens: knownGoodFirstTokens.length })).tokens, knownGoodFirstTokens);
  } finally {
    await engine.dispose();
  }
});

test('the CPU addon has no TensorRT-LLM (or other GPU) part, backend, library or symbol', () => {
  const addon = native();
  assert.deepEqual([...addon.executor.backends], ['cpu']);
  assert.ok(!addon.parts.some((p) => /trt|cuda/i.test(p)), addon.parts.join(', '));
  assert.equal('features' in addon, false, 'the addon reports no optional features');
  const file = addonCandidates().find((p) => existsSync(p))!;
  if (process.platform !== 'linux' || spawnSync('readelf', ['--version']).status !== 0) return;
  // its dynamic section: the libraries it needs and where it looks for them
  const dynamic = execFileSync('readelf', ['-d', '-W', file], { encoding: 'utf8' });
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
  assert.notEqual(needed.length, 0, dynamic);
  for (const lib of needed) assert.doesNotMatch(lib, /tensorrt|nvinfer|cuda|cublas|nccl|mpi/i, `${file} needs ${lib}`);
  assert.doesNotMatch(dynamic, /\((RUNPATH|RPATH)\).*(tensorrt|nvinfer|cuda)/i);
  // every symbol it defines or uses
  const symbols = execFileSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.doesNotMatch(symbols, /tensorrt_llm|TrtLlm|initTrtLlmPlugins|nvinfer/);
});

test('the tensorrt-llm module, where built, registers only its backend', { skip: !trtLlmBuilt && 'redrafter_trtllm.node is not built here' }, () => {
  const m = loadBackendModule('tensorrt-llm');
  assert.deepEqual([...m.executor.backends], ['tensorrt-llm']);
  assert.equal(typeof m.executor.loadEngine, 'function');
});

test('sessions on a fixed-shape (TensorRT-LLM) engine use its beamWidth/beamLength; other values are RangeErrors naming the field', () => {
  const limits = { hasDrafter: true, maxBeamWidth: 4, maxBeamLength: 4, fixedBeamShape: true };
  assert.deepEqual(resolveSessionOptions(undefined, limits), { beamWidth: 4, beamLength: 4 });
  assert.deepEqual(resolveSessionOptions({ beamWidth: 4, beamLength: 4 }, limits), { beamWidth: 4, beamLength: 4 });
  assert.throws(() => resolveSessionOptions({ beamWidth: 2 }, limits),
    { name: 'RangeError', message: /^beamWidth must be 4 \(or left out\): this engine's beam shape was fixed when it was built \(4 beams of 4 tokens\), got 2/ });
  assert.throws(() => resolveSessionOptions({ beamLength: 5 }, limits), { name: 'RangeError', message: /^beamLength must be 4/ });
  assert.throws(() => resolveSessionOptions({ beamWidth: 0 }, limits), { name: 'RangeError', message: /plain decoding needs an engine built without a drafter/ });
  assert.throws(() => resolveSessionOptions({ beamWidth: 'x' }, limits), { name: 'TypeError', message: /^beamWidth must be an integer/ });
  // an engine built without a drafter: plain decoding only
  const plain = { hasDrafter: false, maxBeamWidth: 0, maxBeamLength: 0, fixedBeamShape: true };
  assert.deepEqual(resolveSessionOptions(undefined, plain), { beamWidth: 0, beamLength: 0 });
  assert.throws(() => resolveSessionOptions({ beamWidth: 4 }, plain), { name: 'RangeError', message: /^beamWidth must be 0/ });
});

test('HfTextCodec: ids, BOS as the tokenizer adds it, end ids, text round trip', async () => {
  const codec = new HfTextCodec(await HfTokenizer.load(tokenizerDir));
  assert.equal(codec.bos, 0);
  assert.equal(codec.eos, 1);
  assert.deepEqual(codec.eosTokenIds, [1, 2]);  // both end generation
  assert.equal(codec.vocabSize, 30);
  const text = 'once upon a time é';
  const withBos = codec.encode(text, { bos: true });
  assert.deepEqual([...withBos], [0, 20, 22, 18, 29, 28, 15, 16, 17]);
  assert.deepEqual([...codec.encode(text, { bos: false })], [...withBos.slice(1)]);
  assert.equal(codec.tokenizer.decode(withBos), text);
  // a chat prompt: the template writes BOS, encoding adds none
  assert.deepEqual([...await codec.encodeChat([{ role: 'user', content: 'once' }], { addGenerationPrompt: false })].filter((t) => t === 0), [0]);
});

test('HfTextCodec decoder: whole characters only, spaces kept, across any split of the stream', async () => {
  const codec = new HfTextCodec(await HfTokenizer.load(tokenizerDir));
  const text = 'once upon a time é once';
  const ids = [...codec.encode(text, { bos: false })];
  // token by token: 'Ã' (first byte of é) gives nothing, '©' gives é
  const d = codec.createDecoder(0);
  const pieces = ids.map((t) => d.push(t));
  assert.equal(pieces.join('') + d.flush(), text);
  const at = ids.indexOf(16);
  assert.equal(pieces[at], '');
  assert.equal(pieces[at + 1], 'é');
  assert.ok(pieces.every((p) => !p.includes('\uFFFD')));
  // a continuation after a previous token keeps its leading space
  const after = codec.createDecoder(20);  // 'once'
  assert.equal(after.push(22), ' up');
  // an incomplete character at the end of the stream comes out of flush()
  const cut = codec.createDecoder(-1);
  assert.equal(cut.push(15), ' ');
  assert.equal(cut.push(16), '');
  assert.equal(cut.flush(), '\uFFFD');
  assert.equal(cut.flush(), '');
  // every prefix of the stream decodes to a prefix of the text
  for (let n = 0; n <= ids.length; n++) {
    const p = codec.createDecoder(0);
    const got = ids.slice(0, n).map((t) => p.push(t)).join('');
    assert.ok(text.startsWith(got), `${n}: ${JSON.stringify(got)}`);
  }
});
