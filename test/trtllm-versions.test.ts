// The supported TensorRT-LLM range, version parsing/comparison, installed-version detection, and the ReDrafter
// architecture name the checkpoint converter writes for each release.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  compareTrtLlmVersions, findInstalledTrtLlmVersion, isSupportedTrtLlmVersion, parseTrtLlmVersion, redrafterArchitecture,
  requireSupportedTrtLlmVersion, resolveTargetTrtLlmVersion, TRTLLM_FIRST_SUPPORTED, TRTLLM_LAST_SUPPORTED, versionFromSource,
} from '../lib/trtllm/versions.ts';

const v = (s: string) => {
  const p = parseTrtLlmVersion(s);
  assert.ok(p, s);
  return p;
};

test('the supported range is 0.12.0 .. 1.3.0rc20, read from native/trtllm/supported-versions.json', () => {
  assert.equal(TRTLLM_FIRST_SUPPORTED, '0.12.0');
  assert.equal(TRTLLM_LAST_SUPPORTED, '1.3.0rc20');
  const json = JSON.parse(readFileSync(new URL('../native/trtllm/supported-versions.json', import.meta.url), 'utf8'));
  assert.equal(json.first, TRTLLM_FIRST_SUPPORTED);
  assert.equal(json.last, TRTLLM_LAST_SUPPORTED);
});

test('versions order as PEP 440 does for the forms TensorRT-LLM uses', () => {
  const ordered = ['0.11.0', '0.12.0.dev2024071600', '0.12.0', '0.15.0.dev2024101500', '0.15.0', '0.18.2', '1.0.0rc4', '1.0.0',
    '1.2.0rc6', '1.2.0rc6.post2', '1.2.0', '1.3.0rc20', '1.3.0rc21', '1.3.0'];
  for (let i = 1; i < ordered.length; i++) {
    assert.ok(compareTrtLlmVersions(v(ordered[i - 1]!), v(ordered[i]!)) < 0, `${ordered[i - 1]} < ${ordered[i]}`);
  }
  assert.equal(compareTrtLlmVersions(v('1.2.0'), v('v1.2')), 0);
  for (const bad of ['', 'abc', '1', '1.2.0-rc1x', '1.2.0rc']) assert.equal(parseTrtLlmVersion(bad), undefined, bad);
});

test('in range: 0.12.0 through 1.3.0rc20; outside: one line naming the version, where it was read and the range', () => {
  for (const s of ['0.12.0', '0.15.0', '1.0.0', '1.2.0.post1', '1.3.0rc20']) assert.ok(isSupportedTrtLlmVersion(v(s)), s);
  for (const s of ['0.11.0', '0.12.0.dev2024071600', '1.3.0rc21', '1.3.0', '2.0.0']) assert.ok(!isSupportedTrtLlmVersion(v(s)), s);
  assert.throws(() => requireSupportedTrtLlmVersion('0.11.0', '/x/config.json'), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_REDRAFTER_UNSUPPORTED');
    assert.equal(e.message, '/x/config.json: TensorRT-LLM 0.11.0 is older than the first release with ReDrafter engines; ' +
      'supported: 0.12.0 to 1.3.0rc20');
    return true;
  });
  assert.throws(() => requireSupportedTrtLlmVersion('1.3.0rc21', 'version.py'),
    /^Error: version\.py: TensorRT-LLM 1\.3\.0rc21 is newer than the last release with the TensorRT engine backend \(removed in 2026\); supported: 0\.12\.0 to 1\.3\.0rc20$/);
  assert.throws(() => requireSupportedTrtLlmVersion('main', 'x'), /"main" is not a TensorRT-LLM version/);
});

test('architecture names: ReDrafterForCausalLM (LLaMA only) before 1.0, ReDrafterForLLaMALM / ReDrafterForQWenLM from 1.0', () => {
  assert.equal(redrafterArchitecture(v('0.12.0'), 'LlamaForCausalLM'), 'ReDrafterForCausalLM');
  assert.equal(redrafterArchitecture(v('0.21.0'), 'LlamaForCausalLM'), 'ReDrafterForCausalLM');
  assert.equal(redrafterArchitecture(v('0.21.0'), 'Qwen2ForCausalLM'), undefined);
  assert.equal(redrafterArchitecture(v('1.0.0rc0'), 'LlamaForCausalLM'), 'ReDrafterForLLaMALM');
  assert.equal(redrafterArchitecture(v('1.2.0'), 'LlamaForCausalLM'), 'ReDrafterForLLaMALM');
  assert.equal(redrafterArchitecture(v('1.2.0'), 'QWenForCausalLM'), 'ReDrafterForQWenLM');
  assert.equal(redrafterArchitecture(v('1.3.0rc20'), 'Qwen2ForCausalLM'), 'ReDrafterForQWenLM');
  assert.equal(redrafterArchitecture(v('1.2.0'), 'GPTJForCausalLM'), undefined);
});

test('the installed version is read from TRTLLM_ROOT (pip package version.py or a tree with executor/version.h)', () => {
  const root = mkdtempSync(join(tmpdir(), 'redrafter-trtllm-ver-'));
  try {
    assert.equal(findInstalledTrtLlmVersion({}), undefined);
    assert.equal(findInstalledTrtLlmVersion({ TRTLLM_ROOT: root }), undefined);
    const pkg = join(root, 'site-packages', 'tensorrt_llm');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'version.py'), '# SPDX\n__version__ = "1.2.0rc6.post2"\n');
    assert.deepEqual(findInstalledTrtLlmVersion({ TRTLLM_ROOT: pkg }), { version: '1.2.0rc6.post2', file: join(pkg, 'version.py') });
    const tree = join(root, 'src');
    mkdirSync(join(tree, 'cpp', 'include', 'tensorrt_llm', 'executor'), { recursive: true });
    writeFileSync(join(tree, 'cpp', 'include', 'tensorrt_llm', 'executor', 'version.h'),
      'namespace tensorrt_llm::executor\n{\nstatic auto constexpr kTensorRtLlmVersion = "0.15.0";\n}\n');
    assert.equal(findInstalledTrtLlmVersion({ TRTLLM_ROOT: tree })?.version, '0.15.0');
    assert.equal(versionFromSource('nothing here'), undefined);

    // the converter's target: --trtllm-version wins; else the installed one; neither is a TypeError naming trtllmVersion
    assert.equal(resolveTargetTrtLlmVersion('0.18.2', { TRTLLM_ROOT: pkg }).text, '0.18.2');
    assert.equal(resolveTargetTrtLlmVersion(undefined, { TRTLLM_ROOT: pkg }).text, '1.2.0rc6.post2');
    assert.throws(() => resolveTargetTrtLlmVersion(undefined, {}), (e: Error & { code?: string }) =>
      e instanceof TypeError && e.code === 'ERR_REDRAFTER_INVALID_ARGUMENT' && /^trtllmVersion is required where no TensorRT-LLM is found/.test(e.message));
    assert.throws(() => resolveTargetTrtLlmVersion('latest', {}), TypeError);
    writeFileSync(join(pkg, 'version.py'), '__version__ = "1.3.0rc22"\n');
    assert.throws(() => resolveTargetTrtLlmVersion(undefined, { TRTLLM_ROOT: pkg }), /version\.py: TensorRT-LLM 1\.3\.0rc22 is newer/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
