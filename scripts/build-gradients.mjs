// tfjs-core registers its ops' gradients in a side-effect module (dist/register_all_gradients.js) whose ESM
// sources use extensionless imports that Node cannot load, and its Node bundle (the package's main) leaves them
// out. We bundle that module once with esbuild into gen/tfjs-gradients.mjs. Its inlined copy of tfjs-core
// registers into the same global gradient registry and engine (tfjs keeps both on globalThis).
import {build} from 'esbuild'
import {createRequire} from 'node:module'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const entry = path.join(path.dirname(require.resolve('@tensorflow/tfjs-core/package.json')), 'dist', 'register_all_gradients.js')
await build({
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  platform: 'node',
  outfile: path.join(root, 'gen', 'tfjs-gradients.mjs'),
  logLevel: 'warning',
  legalComments: 'none',
})
