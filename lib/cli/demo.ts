// `redrafter demo`: the README's main job (`npm start`).
import type { Command } from 'commander';
import { native } from '../native.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the main job on the embedded CPU engine')
    .action(() => {
      const addon = native();
      process.stdout.write(`redrafter addon loaded: parts ${addon.parts.join(', ')}\n`);
    });
}
