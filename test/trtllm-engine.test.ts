// The TypeScript half of loadEngine({ backend: 'tensorrt-llm' }): engine config reading, option validation, the
// native options it produces, and the Hugging Face tokenizer (test/fixtures/hf-tokenizer: a byte-level BPE
// tokenizer.json written for this test, with a chat template and two end ids). Running an engine needs a GPU and
// TensorRT-LLM: see docs/tensorrt-llm.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTrtLlmEngineInfo } from '../lib/trtllm/engine-config.ts';
import { prepareTrtLlmEngine, resolveAutoBackend, type TrtLlmEngineOptions } from '../lib/trtllm/engine.ts';
import { HfTokenizer } from '../lib/trtllm/hf-tokenizer.ts';
import { repoRoot } from './helpers/fixtures.ts';

const tokenizerDir = join(repoRoot, 'test', 'fixtures', 'hf-tokenizer');
const tokenizersInstalled = await import('@huggingface/tokenizers').then(() => true, () => false);
const jinjaInstalled = await import('@huggingface/jinja').then(() => true, () => false);

/** An engine directory as trtllm-build lays it out (config.json + rank*.engine; the engine bytes are not read). */
function engineDir(root: string, pretrained: Record<string, unknown> = {}, build: Record<string, unknown> = {}, ranks = 1): string {
  const dir = join(root, 'engine');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    version: '0.15.0.dev2024101500',
    pretrained_config: {
      architecture: 'ReDrafterForLLaMALM', dtype: 'float16', vocab_size: 32, hidden_size: 8,
      mapping: { world_size: ranks, tp_size: ranks, pp_size: 1 },
      redrafter_num_beams: 4, redrafter_draft_len_per_beam: 3, redrafter_greedy_search: true, ...pretrained,
    },
    build_config: { max_batch_size: 8, max_input_len: 100, max_seq_len: 200, ...build },
  }));
  for (let r = 0; r < ranks; r++) writeFileSync(join(dir, `rank${r}.engine`), '');
  return dir;
}

function withRoot(fn: (root: string) => Promise<void>) {
  return async () => {
    const root = mkdtempSync(join(tmpdir(), 'redrafter-trt-'));
    try {
      await fn(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
}

test('reads the engine facts the backend needs from trtllm-build\'s config.json', withRoot(async (root) => {
  const info = await readTrtLlmEngineInfo(engineDir(root));
  assert.equal(info.architecture, 'ReDrafterForLLaMALM');
  assert.equal(info.vocabSize, 32);
  assert.equal(info.maxSeqLen, 200);
  assert.equal(info.maxBatchSize, 8);
  assert.equal(info.tpSize, 1);
  assert.deepEqual(info.redrafter, { numBeams: 4, draftLenPerBeam: 3, greedySearch: true });
}));

test('engine config errors name the file and what is wrong', withRoot(async (root) => {
  await assert.rejects(readTrtLlmEngineInfo(join(root, 'none')), { code: 'ERR_REDRAFTER_IO', message: /the engine directory does not exist/ });
  const ckpt = join(root, 'ckpt');
  mkdirSync(ckpt);
  writeFileSync(join(ckpt, 'config.json'), JSON.stringify({ architecture: 'ReDrafterForLLaMALM' }));
  await assert.rejects(readTrtLlmEngineInfo(ckpt), { code: 'ERR_REDRAFTER_INVALID_MODEL', message: /not a trtllm-build engine config.*not the checkpoint/ });
  const dir = engineDir(root, {}, { max_seq_len: undefined });
  await assert.rejects(readTrtLlmEngineInfo(dir), { message: /build_config: "max_seq_len" is missing/ });
  rmSync(join(dir, 'rank0.engine'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ pretrained_config: { vocab_size: 3 }, build_config: { max_seq_len: 9 } }));
  await assert.rejects(readTrtLlmEngineInfo(dir), { message: /no rank\*\.engine files/ });
}));

test('loadEngine options are validated with TypeError/RangeError naming the field', withRoot(async (root) => {
  const dir = engineDir(root);
  const base = { backend: 'tensorrt-llm', engineDir: dir, tokenizer: tokenizerDir } as TrtLlmEngineOptions;
  const cases: Array<[Record<string, unknown>, RegExp, typeof TypeError | typeof RangeError]> = [
    [{ freeGpuMemoryFraction: 0 }, /^freeGpuMemoryFraction must be in \(0, 1\]/, RangeError],
    [{ freeGpuMemoryFraction: '0.5' }, /^freeGpuMemoryFraction must be a number/, TypeError],
    [{ enableBlockReuse: 1 }, /^enableBlockReuse must be a boolean/, TypeError],
    [{ maxBatchSize: 0 }, /^maxBatchSize must be in \[1, /, RangeError],
    [{ maxBatchSize: 16 }, /^maxBatchSize must be <= the engine's max_batch_size 8/, RangeError],
    [{ maxNumTokens: 1.5 }, /^maxNumTokens must be an integer/, TypeError],
    [{ schedulerPolicy: 'fifo' }, /^schedulerPolicy must be 'guaranteed-no-evict' or 'max-utilization'/, RangeError],
    [{ gpuWeightsPercent: 2 }, /^gpuWeightsPercent must be in \[0, 1\]/, RangeError],
    [{ engineDir: 3 }, /^engineDir must be the directory trtllm-build wrote/, TypeError],
    [{ tokenizer: '' }, /^tokenizer must be a tokenizer\.json path/, TypeError],
    [{ threads: 4 }, /^threads is not an option of the tensorrt-llm backend/, TypeError],
  ];
  for (const [extra, message, type] of cases) {
    await assert.rejects(prepareTrtLlmEngine({ ...base, ...extra } as TrtLlmEngineOptions), (e: Error & { code?: string }) => {
      assert.ok(e instanceof type, `${JSON.stringify(extra)}: ${e.constructor.name}`);
      assert.match(e.message, message);
      assert.equal(e.code, 'ERR_REDRAFTER_INVALID_ARGUMENT');
      return true;
    });
  }
}));

test('a tensor-parallel engine without executorWorker outside mpirun is refused with the command to use', withRoot(async (root) => {
  const dir = engineDir(root, { mapping: { world_size: 2, tp_size: 2, pp_size: 1 } }, {}, 2);
  const saved = { root: process.env.TRTLLM_ROOT, path: process.env.PATH };
  delete process.env.TRTLLM_ROOT;
  process.env.PATH = '/nonexistent';
  try {
    await assert.rejects(prepareTrtLlmEngine({ backend: 'tensorrt-llm', engineDir: dir, tokenizer: tokenizerDir }),
      { code: 'ERR_REDRAFTER_UNSUPPORTED', message: /the engine has 2 ranks: orchestrator mode needs TensorRT-LLM's executorWorker .*mpirun -n 2 / });
    await assert.rejects(prepareTrtLlmEngine({ backend: 'tensorrt-llm', engineDir: dir, tokenizer: tokenizerDir, workerExecutable: join(root, 'none') }),
      { code: 'ERR_REDRAFTER_INVALID_ARGUMENT', message: /^workerExecutable .*none: no such file/ });
  } finally {
    if (saved.root !== undefined) process.env.TRTLLM_ROOT = saved.root;
    process.env.PATH = saved.path;
  }
}));

test('the engine\'s TensorRT-LLM version must be in the supported range; the prompt limit is max_seq_len - max_draft_len', withRoot(async (root) => {
  const info = await readTrtLlmEngineInfo(engineDir(root, {}, { max_draft_len: 12 }));
  assert.equal(info.maxDraftLen, 12);
  assert.equal(info.contextLimit, 188);
  rmSync(join(root, 'engine'), { recursive: true });
  // without max_draft_len (older configs): redrafter_num_beams * redrafter_draft_len_per_beam, as trtllm-build sets it
  assert.equal((await readTrtLlmEngineInfo(engineDir(root))).contextLimit, 200 - 4 * 3);
  rmSync(join(root, 'engine'), { recursive: true });
  await assert.rejects(readTrtLlmEngineInfo(engineDir(root, {}, { max_seq_len: 12, max_draft_len: 12 })), /max_draft_len 12 leaves no room/);
  for (const version of ['0.11.0', '1.3.0rc21']) {
    rmSync(join(root, 'engine'), { recursive: true });
    const dir = engineDir(root);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, version }));
    await assert.rejects(prepareTrtLlmEngine({ backend: 'tensorrt-llm', engineDir: dir, tokenizer: tokenizerDir }),
      { code: 'ERR_REDRAFTER_UNSUPPORTED', message: new RegExp(`config\\.json: TensorRT-LLM ${version.replace(/\./g, '\\.')} is .*; supported: 0\\.12\\.0 to 1\\.3\\.0rc20$`) });
  }
}));

test('backend auto picks tensorrt-llm only when its module is present (and a GPU is)', () => {
  assert.equal(resolveAutoBackend(() => false), 'cpu');
  const saved = process.env.CUDA_VISIBLE_DEVICES;
  process.env.CUDA_VISIBLE_DEVICES = '';
  try {
    assert.equal(resolveAutoBackend(() => true), 'cpu');
  } finally {
    if (saved === undefined) delete process.env.CUDA_VISIBLE_DEVICES;
    else process.env.CUDA_VISIBLE_DEVICES = saved;
  }
});

test('native options for the addon\'s tensorrt-llm backend', { skip: !tokenizersInstalled && 'needs @huggingface/tokenizers' }, withRoot(async (root) => {
  const prepared = await prepareTrtLlmEngine({
    backend: 'tensorrt-llm', engineDir: engineDir(root), tokenizer: tokenizerDir,
    freeGpuMemoryFraction: 0.5, enableBlockReuse: false, schedulerPolicy: 'max-utilization', maxBatchSize: 4,
  });
  assert.deepEqual(prepared.nativeOptions, {
    backend: 'tensorrt-llm', engineDir: join(root, 'engine'), vocabSize: 32, maxSeqLen: 200, maxDraftLen: 12, maxInputLen: 100,
    redrafterNumBeams: 4, redrafterBeamLength: 4, redrafterGreedySearch: true, engineVersion: '0.15.0.dev2024101500',
    parallelMode: 'single', worldSize: 1, freeGpuMemoryFraction: 0.5, enableBlockReuse: false, schedulerPolicy: 'max-utilization',
    maxBatchSize: 4,
  });
  assert.deepEqual(prepared.parallel, { mode: 'single', worldSize: 1 });
  assert.deepEqual(prepared.draft, { beamWidth: 4, beamLength: 4 });
  // a tokenizer larger than the engine's vocabulary is another model's
  const small = engineDir(join(root, 'x') + (mkdirSync(join(root, 'x')), ''), { vocab_size: 10 });
  await assert.rejects(prepareTrtLlmEngine({ backend: 'tensorrt-llm', engineDir: small, tokenizer: tokenizerDir }),
    { code: 'ERR_REDRAFTER_INVALID_MODEL', message: /the tokenizer has 30 tokens but the engine's vocab_size is 10/ });
}));

test('tokenizer.json: encode, decode, end ids, streaming decode of split characters', { skip: !tokenizersInstalled && 'needs @huggingface/tokenizers' }, async () => {
  const t = await HfTokenizer.load(tokenizerDir);
  const ids = t.encode('once upon a time é');
  assert.deepEqual([...ids], [0, 20, 22, 18, 29, 28, 15, 16, 17]);  // <s> once Ġup on Ġa Ġtime Ġ Ã ©
  assert.equal(t.decode(ids), 'once upon a time é');
  assert.deepEqual([...t.encode('once', { addSpecialTokens: false })], [20]);
  assert.deepEqual(t.eosTokenIds, [1, 2]);  // tokenizer_config eos_token + generation_config eos_token_id
  assert.equal(t.bosTokenId, 0);
  assert.equal(t.vocabSize, 30);
  const stream = t.streamDecoder();
  assert.deepEqual([stream([20]), stream([22, 18]), stream([15, 16]), stream([17])], ['once', ' upon', ' ', 'é']);
});

test('tokenizer load errors', async () => {
  await assert.rejects(HfTokenizer.load('/nonexistent/tok'), { code: 'ERR_REDRAFTER_IO', message: /the tokenizer does not exist/ });
  const root = mkdtempSync(join(tmpdir(), 'redrafter-tok-'));
  try {
    writeFileSync(join(root, 'tokenizer.json'), '{"version": "1.0"}');
    await assert.rejects(HfTokenizer.load(root), { code: 'ERR_REDRAFTER_INVALID_MODEL', message: /not a Hugging Face tokenizer\.json/ });
    writeFileSync(join(root, 'tokenizer.json'), '{"model": {}, ');
    await assert.rejects(HfTokenizer.load(root), { code: 'ERR_REDRAFTER_INVALID_MODEL', message: /tokenizer\.json: not a valid tokenizer file/ });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  if (!tokenizersInstalled) {
    await assert.rejects(HfTokenizer.load(tokenizerDir), { code: 'ERR_REDRAFTER_UNSUPPORTED', message: /npm install @huggingface\/tokenizers/ });
  }
});

test('chat templates render through @huggingface/jinja', { skip: !(tokenizersInstalled && jinjaInstalled) && 'needs @huggingface/tokenizers and @huggingface/jinja' }, async () => {
  const t = await HfTokenizer.load(tokenizerDir);
  assert.equal(await t.applyChatTemplate([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }]),
    '<s>[system] be brief\n[user] hi\n[assistant]');
  assert.equal(await t.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: false }), '<s>[user] hi\n');
});

test('chat_template.jinja beside tokenizer.json wins over tokenizer_config.json; the Vicuna v1.1 template', { skip: !(tokenizersInstalled && jinjaInstalled) && 'needs @huggingface/tokenizers and @huggingface/jinja' }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'redrafter-tok-'));
  try {
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      writeFileSync(join(root, f), readFileSync(join(tokenizerDir, f)));
    }
    writeFileSync(join(root, 'chat_template.jinja'), "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}");
    const t = await HfTokenizer.load(root);
    assert.equal(await t.applyChatTemplate([{ role: 'user', content: 'hi' }]), '<user>hi<assistant>');
    writeFileSync(join(root, 'chat_template.jinja'), '{% for m in messages %');
    await assert.rejects((await HfTokenizer.load(root)).applyChatTemplate([{ role: 'user', content: 'hi' }]),
      { code: 'ERR_REDRAFTER_INVALID_MODEL', message: new RegExp(`^${join(root, 'chat_template.jinja').replace(/[.]/g, '\\.')}: not a valid Jinja chat template`) });

    // FastChat's vicuna_v1.1: "<system> USER: <u> ASSISTANT: <a></s>USER: <u2> ASSISTANT:"
    const chat = [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: "What's up?" }];
    assert.equal(await t.applyChatTemplate(chat, { template: 'vicuna' }),
      "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and " +
      "polite answers to the user's questions. USER: Hi ASSISTANT: Hello.</s>USER: What's up? ASSISTANT:");
    assert.equal(await t.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], { template: 'vicuna', addGenerationPrompt: false }),
      'Be brief. USER: Hi ');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
