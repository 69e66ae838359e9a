import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
const a = tf.ones([2])
console.log('before gradients import: sum chained?', typeof (a as any).sum)
await import('../src/compute/gradients.js')
const b = tf.ones([2])
console.log('after: a.sum', typeof (a as any).sum, 'b.sum', typeof (b as any).sum, b instanceof tf.Tensor)
