// `redrafter serve`: an OpenAI-compatible HTTP server (lib/server/server.ts, docs/serving.md).
import { Option, type Command } from 'commander';
import type { Backend } from '../engine.js';
import { invalidArgument } from '../errors.js';
import { intArg, numberArg } from './args.js';

interface ServeCliOptions {
  model?: string;
  engineDir?: string;
  tokenizer?: string;
  drafter?: string;
  backend: Backend;
  host: string;
  port: number;
  parallel: number;
  maxQueue: number;
  chatTemplate?: string;
  apiKey?: string;
  modelName?: string;
  threads?: number;
  contextLength?: number;
  bodyLimit: number;
  shutdownTimeout: number;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the model over HTTP with the OpenAI API (completions, chat completions, models), /health and /metrics')
    .option('--model <file>', 'cpu: model file (llama2.c .bin, GGUF)')
    .option('--engine-dir <dir>', 'tensorrt-llm: the engine directory trtllm-build wrote (its drafter built in)')
    .option('--tokenizer <file>', "tokenizer (llama2.c tokenizer.bin, default the model's own; tensorrt-llm: tokenizer.json or its directory)")
    .option('--drafter <dir>', 'drafter directory (config.json + model.safetensors); without it, plain decoding')
    .addOption(new Option('--backend <name>', 'the engine backend').choices(['cpu', 'tensorrt-llm', 'auto']).default('auto'))
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', intArg(0, 65535), 8080)
    .option('--parallel <n>', 'choices generated at once, batched by the engine; more requests wait in the queue', intArg(1, 1024), 8)
    .option('--max-queue <n>', 'requests waiting at most; beyond it they get 429', intArg(0), 256)
    .option('--chat-template <file>', "Jinja chat template for /v1/chat/completions (default: the model's own)")
    .addOption(new Option('--api-key <key>', 'require Authorization: Bearer <key> on /v1 routes').env('REDRAFTER_API_KEY'))
    .option('--model-name <name>', "the model's id in the API (default: the model file's name)")
    .option('--threads <n>', 'CPU threads (default: all)', intArg(0, 1024))
    .option('--context-length <n>', "KV capacity per session in tokens (default: the model's)", intArg(1))
    .option('--body-limit <bytes>', 'larger request bodies get 413', intArg(1), 1 << 20)
    .option('--shutdown-timeout <seconds>', 'on SIGTERM/SIGINT, how long generations in flight may finish', numberArg(0, 86400), 30)
    .action(async (o: ServeCliOptions) => {
      if (o.model === undefined && o.engineDir === undefined)
        throw invalidArgument('--model', '(cpu) or --engine-dir (tensorrt-llm) is required');
      const { startServer } = await import('../server/server.js');
      const log = (line: string) => process.stderr.write(`redrafter serve: ${line}\n`);
      const server = await startServer({
        model: o.model,
        engineDir: o.engineDir,
        tokenizer: o.tokenizer,
        drafter: o.drafter,
        backend: o.backend,
        threads: o.threads,
        contextLength: o.contextLength,
        parallel: o.parallel,
        maxQueue: o.maxQueue,
        chatTemplate: o.chatTemplate,
        apiKey: o.apiKey,
        modelName: o.modelName,
        host: o.host,
        port: o.port,
        bodyLimit: o.bodyLimit,
        shutdownTimeoutMs: o.shutdownTimeout * 1000,
        log,
      });
      let signalled: string | undefined;
      const stopped = new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          if (signalled) return;
          signalled = signal;
          log(`${signal}: shutting down (queued requests get 503, generations in flight have ${o.shutdownTimeout} s)`);
          server.shutdown().then(resolve, resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      try {
        await server.ready;
      } catch (err) {
        await server.shutdown();
        throw err;
      }
      await stopped;
      log('stopped');
    });
}
