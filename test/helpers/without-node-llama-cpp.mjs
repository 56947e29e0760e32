// `node --import ./test/helpers/without-node-llama-cpp.mjs ...`: node-llama-cpp resolves as it does where only the
// package's dependencies are installed (it is a devDependency): ERR_MODULE_NOT_FOUND.
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier === 'node-llama-cpp' || specifier.startsWith('node-llama-cpp/')) {
    const err = new Error("Cannot find package 'node-llama-cpp' imported from " + context.parentURL);
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
