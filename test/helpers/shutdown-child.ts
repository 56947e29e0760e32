// A process (or worker thread) that ends while an engine is busy, in the way `mode` says; test/shutdown.test.ts runs
// it with `node --import tsx --expose-gc` and expects a prompt exit with code 0 and nothing on stderr.
//   exit                 process.exit(0) with generations in flight
//   return               main returns with generations in flight, the engine undisposed and unreferenced (gc'd)
//   collect              the engine, undisposed and unreferenced after its generations, is garbage collected
//   collect-in-flight    the native Engine is garbage collected with requests in flight (its finalizer stops it)
//   worker-exit          process.exit(0) inside worker threads with generations in flight
//   worker-terminate     worker.terminate() while the workers' engines generate
//   worker-return        workers return with generations in flight and their engines undisposed
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import { loadEngine } from '../../lib/engine.ts';
import { native, type NativeResponse } from '../../lib/native.ts';
import { fixtures } from './fixtures.ts';

const mode: string = isMainThread ? process.argv[2]! : (workerData as { mode: string }).mode;
const gc = (globalThis as { gc?: () => void }).gc;
const collected = new FinalizationRegistry((what: string) => console.log(`collected ${what}`));

async function collect(rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An engine with `n` sessions, each streaming a long generation; returns once every one has produced a token. */
async function busyEngine(n: number) {
  const engine = await loadEngine({ model: fixtures.stories260K, tokenizer: fixtures.tok512, threads: 1, maxActiveRequests: n });
  const streams = [];
  for (let i = 0; i < n; i++) {
    const stream = engine.createSession({ beamWidth: 0 }).generate('', { maxTokens: 500, temperature: 1, seed: i });
    stream.result.catch(() => {});  // ended by the exit: nobody awaits it
    streams.push(stream);
  }
  await Promise.all(streams.map((s) => s.next()));
  return { engine, streams };
}

async function runWorkers(count: number): Promise<void> {
  // a worker thread runs this file again through tsx's loader (Node 20 workers do not inherit --import)
  const tsx = import.meta.resolve('tsx/esm/api');
  const self = import.meta.url;
  for (let i = 0; i < count; i++) {
    const worker = new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(self)}); })`,
      { eval: true, workerData: { mode } });
    if (mode === 'worker-terminate') worker.once('message', () => void worker.terminate());
    const code = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', resolve);
    });
    console.log(`worker exited with ${code}`);
  }
}

if (isMainThread && mode.startsWith('worker-')) {
  await runWorkers(3);
} else if (!isMainThread) {
  await busyEngine(4);
  if (mode === 'worker-exit') process.exit(0);
  if (mode === 'worker-terminate') {
    parentPort!.postMessage('busy');
    await new Promise((resolve) => setTimeout(resolve, 30_000));
  }
} else if (mode === 'exit') {
  await busyEngine(4);
  process.exit(0);
} else if (mode === 'return') {
  await (async () => collected.register((await busyEngine(4)).engine, 'engine'))();
  gc?.();
} else if (mode === 'collect') {
  await (async () => {
    const { engine, streams } = await busyEngine(4);
    collected.register(engine, 'engine');
    await Promise.all(streams.map((s) => s.result));
  })();
  await collect(10);
} else if (mode === 'collect-in-flight') {
  // Through the native surface: nothing but the sessions holds the Engine, so it is collectable mid-generation.
  const finals: string[] = [];
  await (async () => {
    const engine = await native().executor.loadEngine({ backend: 'cpu', model: fixtures.stories260K, threads: 1, maxActiveRequests: 4 },
      (responses: NativeResponse[]) => {
        for (const r of responses) if (r.isFinal) finals.push(r.finishReason);
      });
    collected.register(engine, 'engine');
    for (let i = 0; i < 4; i++)
      engine.createSession().enqueue({ promptTokenIds: new Int32Array([1]), maxTokens: 1_000_000, temperature: 1, seed: i });
  })();
  await collect(20);
  while (finals.length < 4) await new Promise((resolve) => setTimeout(resolve, 10));
  console.log(`finals ${finals.join(' ')}`);
} else {
  throw new Error(`unknown mode ${mode}`);
}
