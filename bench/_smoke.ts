import * as tf from '@tensorflow/tfjs-core'
import {initBackend} from '../src/compute/backend.ts'
import * as ops from '../src/compute/ops.ts'
for (const b of ['wasm', 'cpu', 'auto'] as const) {
  const info = await initBackend(b)
  console.log(info)
  const a = tf.randomNormal([64, 99]) as tf.Tensor2D, w = tf.randomNormal([99, 45]) as tf.Tensor2D, bias = tf.randomNormal([45]) as tf.Tensor1D
  const y = ops.linear(a, w, bias), r = ops.linearReference(a, w, bias)
  console.log('linear diff', tf.max(tf.abs(tf.sub(y, r))).dataSync()[0])
  const t0 = performance.now()
  const big = tf.randomNormal([1024, 1024])
  for (let i = 0; i < 3; i++) tf.matMul(big, big).dataSync()
  console.log('matmul 1024', ((3 * 2 * 1024 ** 3) / ((performance.now() - t0) / 1000) / 1e9).toFixed(1), 'GFLOP/s')
  const ids = tf.tensor1d([1, 2, 3, 1], 'int32'), table = tf.randomNormal([5, 3]) as tf.Tensor2D
  const g = tf.grad((t: tf.Tensor) => tf.sum(ops.embedding(t as tf.Tensor2D, ids)))(table)
  console.log('emb grad', Array.from(g.dataSync()).slice(0, 9))
}
