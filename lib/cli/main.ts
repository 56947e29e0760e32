#!/usr/bin/env node
// The `redrafter` command line. Each subcommand lives in its own module with a `register(program)`.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { register as registerDemo } from './demo.js';
import { register as registerGenerate } from './generate.js';
import { register as registerChat } from './chat.js';
import { register as registerBench } from './bench.js';
import { register as registerTrainDrafter } from './train-drafter.js';
import { register as registerInspect } from './inspect.js';
import { register as registerConvert } from './convert.js';
import { register as registerBuild } from './build.js';
import { register as registerServe } from './serve.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('redrafter')
    .description('ReDrafter speculative decoding: generate, chat, serve, benchmark, train drafters, convert and build engines')
    .version(pkg.version)
    .showHelpAfterError(false)
    // usage errors as every other error: one line, "redrafter: ..." (subcommands inherit this)
    .configureOutput({
      outputError: (message, write) => write(`redrafter: ${message.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')}\n`),
    })
    .exitOverride();
  registerDemo(program);
  registerGenerate(program);
  registerChat(program);
  registerBench(program);
  registerTrainDrafter(program);
  registerInspect(program);
  registerConvert(program);
  registerBuild(program);
  registerServe(program);
  return program;
}

/** Prints an error as one clear line on stderr and sets a failing exit code (130 for an interrupt, as shells do). */
export function reportError(err: unknown): void {
  const e = err as { message?: string; code?: string };
  const code = e.code && e.code.startsWith('ERR_REDRAFTER') ? ` [${e.code}]` : '';
  // a message that already names the program (the addon loader's) is not prefixed twice
  const message = (e.message ?? String(err)).split('\n')[0]!.replace(/^redrafter: /, '');
  process.stderr.write(`redrafter: ${message}${code}\n`);
  process.exitCode = e.code === 'ERR_REDRAFTER_ABORTED' ? 130 : 1;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    reportError(err);
  }
}

await main(process.argv);
