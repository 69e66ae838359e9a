/**
 * Registers tfjs-core's gradient functions in Node.
 *
 * tfjs-core's Node entry (dist/tf-core.node.js, CommonJS) contains no gradient functions: the umbrella
 * @tensorflow/tfjs package normally registers them by importing `@tensorflow/tfjs-core/dist/register_all_gradients`,
 * an ES module tree with extensionless relative imports that Node cannot load as is. Two ways in, fastest first:
 *  1. gen/tfjs-gradients.mjs, that tree bundled by esbuild at build time (scripts/build-gradients.mjs; ~10 ms);
 *  2. if the bundle is missing, a module hook (node:module `register`) that, for files under tfjs-core/dist only,
 *     loads `.js` files as ES modules and resolves `./x` to `./x.js` or `./x/index.js` (~0.9 s: 1,000+ files).
 * Either way the gradients land in tfjs's global registry, which every copy of tfjs-core shares (as it shares the
 * engine), so `tf.grad` works with the main entry. Import this module for its side effect.
 */
import * as fs from 'node:fs'
import {register} from 'node:module'
import {fileURLToPath} from 'node:url'

import * as tf from '@tensorflow/tfjs-core'

const BUNDLE = new URL('../../gen/tfjs-gradients.mjs', import.meta.url)

const HOOKS = `
const DIST = '/@tensorflow/tfjs-core/dist/';
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    const parent = context.parentURL || '';
    if (parent.includes(DIST) && (specifier.startsWith('./') || specifier.startsWith('../'))) {
      for (const suffix of ['.js', '/index.js']) {
        try { return await next(specifier + suffix, context); } catch {}
      }
    }
    throw e;
  }
}
export async function load(url, context, next) {
  if (url.includes(DIST) && url.endsWith('.js') && !url.endsWith('/tf-core.node.js')) {
    return next(url, {...context, format: 'module'});
  }
  return next(url, context);
}
`

async function registerGradients(): Promise<boolean> {
  // Already registered (e.g. by @tensorflow/tfjs or tfjs-node): nothing to do.
  if (tf.getGradient('Sum') !== undefined) return true
  if (fs.existsSync(fileURLToPath(BUNDLE))) {
    await import(BUNDLE.href)
  } else {
    register('data:text/javascript,' + encodeURIComponent(HOOKS))
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js')
  }
  return tf.getGradient('Sum') !== undefined
}

/** True once registration succeeded. */
export const gradientsReady: boolean = await registerGradients()
