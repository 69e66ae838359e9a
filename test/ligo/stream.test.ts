/**
 * Fixed maps stream the grown model tensor by tensor (src/ligo/grow.ts): the bytes must be those of the
 * implementation that materialised the whole model first, and checkpoints whose tensors pass 2^24 values must grow.
 */
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {loadCheckpoint} from '../../src/checkpoints/checkpoint.js'
import {METHODS, grow} from '../../src/ligo/grow.js'
import {smallBrown, tmpDir, useCpu} from '../helpers.js'
import {seededSource} from './fixtures.js'

beforeAll(useCpu)

const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')

/**
 * SHA-256 of model.safetensors (and of the net2net operator's ligo.safetensors) as written by the implementation
 * before streaming (commit e8154ab: materialize() of the whole model, then saveCheckpoint), for the seeded sources
 * of fixtures.ts, seed 5. The same on the cpu and native backends (fixed maps multiply by 0, 1 and split weights).
 */
const GOLDEN = new Map<string, string>([
  ["gpt2 {\"width\":32,\"depth\":3} stack", '675f5c06df3721a2e8f91bd48ad1dd21b0933b9de125742908fb04ec9465e414'],
  ["gpt2 {\"width\":32,\"depth\":3} interleave", '0c3e952ae88f3b2062c8074f15d22664b8ce1376bb959146c28c22334196c908'],
  ["gpt2 {\"width\":32,\"depth\":3} net2net", 'a0142f2cb193a75023762a6cda4ce49c7c3e065de68ac99868bdf7f3318124f2'],
  ["gpt2 {\"width\":32,\"depth\":3} net2net ligo.safetensors", 'd63ff521183dc153a42646a09388b03d35aae9f7d7d729a219c0ee179d3ededd'],
  ["gpt2 {\"width\":32,\"depth\":3} net2net --operator", 'a0142f2cb193a75023762a6cda4ce49c7c3e065de68ac99868bdf7f3318124f2'],
  ["gpt2 {\"width\":32,\"depth\":3} zero", '6a7d3ea0782b9731b4a146bba26073801f333801f1992b4b25fa7c3af56c16a8'],
  ["gpt2 {\"width\":32,\"depth\":3} random", '23f000c825a8a17f50b4e93c347fea1fe4bc2bd08637f9aa5aa42ee7b40d7c54'],
  ["gpt2 {\"depth\":4} stack", '2f4c4b969d67532a1f03b751bff46a75e3ae4985bd5f875f23684ad7e63090cf'],
  ["gpt2 {\"depth\":4} interleave", '61be1173dd5fb71b415003f1d23b05031acb41f1cf16d107dafeb05cabdefafc'],
  ["gpt2 {\"depth\":4} net2net", 'de76c91e0cc88e36868138d615a29d5452b01db6f7681da8e64ac579704947de'],
  ["gpt2 {\"depth\":4} net2net ligo.safetensors", '993c225df3adb179152f42f0aa997c2dc1c0e75b1c1b57ae8122edbdfc322c90'],
  ["gpt2 {\"depth\":4} net2net --operator", 'de76c91e0cc88e36868138d615a29d5452b01db6f7681da8e64ac579704947de'],
  ["gpt2 {\"depth\":4} zero", 'b6a3c4b91d86b251623cd738c27a6d4d02e9670c6bad809858ea010dab7de334'],
  ["gpt2 {\"depth\":4} random", '22d1e6113875243e966bd92a98c7efd4a8a4f4a0cddbe4934ef673ca26821f58'],
  ["gpt2mup {\"width\":32,\"depth\":3} stack", 'f237b4acde45266d3e5e8b4b0a42c78ecf0fd2949d55b64747aa783e579a6821'],
  ["gpt2mup {\"width\":32,\"depth\":3} interleave", 'c0356bf4ae14153dfe14d2b8082dd210d8e89d40465e7821821e8bbb3fbd1236'],
  ["gpt2mup {\"width\":32,\"depth\":3} net2net", 'c85ced0a04d9abdfcc364402dd2162f96da1f87c16837484ac174c10407b03eb'],
  ["gpt2mup {\"width\":32,\"depth\":3} net2net ligo.safetensors", 'd63ff521183dc153a42646a09388b03d35aae9f7d7d729a219c0ee179d3ededd'],
  ["gpt2mup {\"width\":32,\"depth\":3} net2net --operator", 'c85ced0a04d9abdfcc364402dd2162f96da1f87c16837484ac174c10407b03eb'],
  ["gpt2mup {\"width\":32,\"depth\":3} zero", 'cccefb02575630fcbac0e0f08cd11eb84f291dfdf4098fab04786ea0336b182e'],
  ["gpt2mup {\"width\":32,\"depth\":3} random", 'dbff3be5b1bf835d85f5790864cf339a815c7f396b9db05829dd3e27c42370b7'],
  ["llama {\"width\":32,\"depth\":3} stack", 'bb6c6a7c21a4580cd5c821556670396225a779e73a0e24be67c568475ab8627e'],
  ["llama {\"width\":32,\"depth\":3} interleave", 'eca20117d398d92704a563333505c41c536f03b4f1e5fcf1a3812ce244ab181f'],
  ["llama {\"width\":32,\"depth\":3} net2net", 'a87d36e2d90ada7c0731b17a30369bea4dc2e1efd86a0179181dc06c3027b1e2'],
  ["llama {\"width\":32,\"depth\":3} net2net ligo.safetensors", '7bc2e5188455ea42d79f6012d98f5b4e35b3510699f2179493d50ed330d8aba1'],
  ["llama {\"width\":32,\"depth\":3} net2net --operator", 'a87d36e2d90ada7c0731b17a30369bea4dc2e1efd86a0179181dc06c3027b1e2'],
  ["llama {\"width\":32,\"depth\":3} zero", '6d9385b1904edbba31c8e5fca56134d426d44c5955a3dbcb1e1d2a1e6dfd5c17'],
  ["llama {\"width\":32,\"depth\":3} random", '16cdd950243a25e060dff4e940aa3e63876d82cd6b341764aa18489fa3fb5be4'],
  ["llama {\"depth\":4} stack", '0c9ae4f42135d932ccdcde80b3b3acc613d6ee37345bc648c66254b4b033604e'],
  ["llama {\"depth\":4} interleave", '7a95e567b81cbab866b15f2fbb1071b050fc8d307c17438d872d8d810562e2fa'],
  ["llama {\"depth\":4} net2net", 'd0475c856695c52fedc211efaf5f861cce2645f9a8967ec738b321749ceb9296'],
  ["llama {\"depth\":4} net2net ligo.safetensors", '3a7cbed92f2d3cb343c45681886ba419a1177e54249e99a312781daa5dd2aac8'],
  ["llama {\"depth\":4} net2net --operator", 'd0475c856695c52fedc211efaf5f861cce2645f9a8967ec738b321749ceb9296'],
  ["llama {\"depth\":4} zero", 'b6462df61d364be6d12136353fad37c953d1d91f34193da36f35bd411933ebad'],
  ["llama {\"depth\":4} random", 'f9166363efb24b9fbd4563fcb27452372c66a098865c7278706671aedbae24cd'],
  ["bert {\"width\":32,\"depth\":3} stack", '5f9880547d2003dd3c23e269f0562b2158a63eee4fdf73e97c6b2aef7ef7c60c'],
  ["bert {\"width\":32,\"depth\":3} interleave", '82cca736ed6eb63cfa8a2f7ea2a3973396df0ea87935ba0831d312905ab852c5'],
  ["bert {\"width\":32,\"depth\":3} net2net", 'b71b351b3dc24a77bccd08ca3be47e0daba3e1f103297ed5f5ea4e791377d21b'],
  ["bert {\"width\":32,\"depth\":3} net2net ligo.safetensors", '01d413ec65f564922d98519b424f456416f594a9cbae9def6ff55274fe8e1948'],
  ["bert {\"width\":32,\"depth\":3} net2net --operator", 'b71b351b3dc24a77bccd08ca3be47e0daba3e1f103297ed5f5ea4e791377d21b'],
  ["bert {\"width\":32,\"depth\":3} zero", '2fcb11ed2f65ab453a44a59ee411ef5b180acae3a9a04c453457e28dca2b36a9'],
  ["bert {\"width\":32,\"depth\":3} random", 'b35a58b1c117fe725123d075fdaf50801d5087e6b1c36218cdfab50a2391e2a0'],
  ["bert {\"depth\":4} stack", '6437e90c082f145bed4099e1f85bf8fe6b24afdf20b9c2304aebcae345d5b223'],
  ["bert {\"depth\":4} interleave", '0e93152025c9cae1b7235003145c264bab729d80220d036cc9e4ff1a91644fd3'],
  ["bert {\"depth\":4} net2net", 'daf4ada8042dadd3b087c16fe36f1409eb6d76ab070a827ed25d4fc681ab5fbf'],
  ["bert {\"depth\":4} net2net ligo.safetensors", '0788eca0b526c47e4c5391716ebe07ac7222313da74d03de160498ad1f827af2'],
  ["bert {\"depth\":4} net2net --operator", 'daf4ada8042dadd3b087c16fe36f1409eb6d76ab070a827ed25d4fc681ab5fbf'],
  ["bert {\"depth\":4} zero", '147b550abbca0a6c24eb6715e735ef816fff510a129093ef1d7b5eea3c9f10d5'],
  ["bert {\"depth\":4} random", 'f5f91bdc46fa07b7451074229e584167c672aee84daf9d1cfced65752f4ada80'],
])

const MODELS: Record<string, Record<string, unknown>> = {
  gpt2: {vocab_size: 64, n_positions: 16, n_layer: 2, d_model: 16, n_head: 2, d_ffn: 64},
  gpt2mup: {vocab_size: 64, n_positions: 16, n_layer: 2, d_model: 16, n_head: 2, d_ffn: 64, param: 'mup'},
  llama: {family: 'llama', vocab_size: 64, n_positions: 16, n_layer: 2, d_model: 16, n_head: 4, n_kv_head: 2},
  bert: {family: 'bert', vocab_size: 64, n_positions: 16, n_layer: 2, d_model: 16, n_head: 2},
}

describe('streamed growth', () => {
  it('gives the bytes of the whole-model implementation, for every fixed method, random and --operator', async () => {
    let checked = 0
    for (const [name, model] of Object.entries(MODELS)) {
      const src = seededSource(model)
      for (const target of [{width: 32, depth: 3}, {depth: 4}]) {
        for (const method of ['stack', 'interleave', 'net2net', 'zero', 'random'] as const) {
          const key = `${name} ${JSON.stringify(target)} ${method}`
          if (!GOLDEN.has(key)) continue
          const out = path.join(tmpDir(), 'g')
          await grow({source: src, target, method, out, evalBatches: 0, seed: 5})
          expect(sha256(path.join(out, 'model.safetensors')), key).toBe(GOLDEN.get(key))
          checked++
          if (method !== 'net2net') continue
          expect(sha256(path.join(out, 'ligo.safetensors')), `${key} ligo.safetensors`).toBe(GOLDEN.get(`${key} ligo.safetensors`))
          const again = path.join(tmpDir(), 'g2')
          await grow({source: src, target: {}, method: 'ligo', operatorFile: path.join(out, 'ligo.safetensors'), out: again, evalBatches: 0})
          expect(sha256(path.join(again, 'model.safetensors')), `${key} --operator`).toBe(GOLDEN.get(`${key} --operator`))
          checked += 2
        }
      }
    }
    expect(checked).toBe(GOLDEN.size)
  })

  it('leaves nothing behind when interrupted mid-stream', async () => {
    const src = seededSource(MODELS.gpt2)
    const parent = tmpDir()
    const out = path.join(parent, 'grown')
    const stop = new AbortController()
    const job = grow({source: src, target: {width: 32, depth: 3}, method: 'zero', out, evalBatches: 0, signal: stop.signal,
      onEvent: (e) => e.kind === 'io' && e.verb === 'write' && stop.abort()})
    await expect(job).rejects.toThrow(/interrupted: nothing was written/)
    expect(fs.readdirSync(parent)).toEqual(['grown'])
    expect(fs.readdirSync(out)).toEqual([])
  })

  // The embedding 65,537 × 256 has 16,777,472 > 2^24 values: returning a grown tensor's data out of tf.tidy made
  // tfjs put every value in a JavaScript Set, which throws past 2^24 ("Set maximum size exceeded").
  it('grows a checkpoint whose embedding has more than 2^24 values, by every method', async () => {
    const model = {vocab_size: 65537, n_positions: 16, n_layer: 1, d_model: 256, n_head: 4, d_ffn: 256}
    const src = seededSource(model)
    expect(src.weights.get('wte.weight')!.length).toBeGreaterThan(2 ** 24)
    const data = await smallBrown()
    for (const method of METHODS) {
      const out = path.join(tmpDir(), method)
      const ligo = {steps: 2, warmup: 0, batch: 1, seq: 8}
      const r = await grow({source: src, target: {depth: 2}, method, out, dataDir: method === 'ligo' ? data : undefined, evalBatches: 0, ligo})
      expect(r.large.n_layer, method).toBe(2)
      const g = loadCheckpoint(out)
      const wte = g.weights.get('wte.weight')!
      expect(wte.length, method).toBe(65537 * 256)
      // Only depth grows: every method but random keeps the embedding as it was.
      if (method !== 'random') expect(Buffer.from(wte.buffer, wte.byteOffset, wte.byteLength).equals(Buffer.from(src.weights.get('wte.weight')!.buffer)), method).toBe(true)
      if (method === 'ligo') expect(r.steps).toBe(2)
    }
  }, 120_000)
})
