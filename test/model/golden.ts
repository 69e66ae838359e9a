/**
 * Golden parity with transformers: every HF tensor set by one closed-form formula, so the Python side that produced
 * the golden logits (quoted in each family's test) and this side build the same model without shipping weights.
 */
import {mapping} from '../../src/model/hf.js'
import type {ModelConfig} from '../../src/model/index.js'

/** HF tensors of a model set by the formula, named and shaped by our mapping (so the mapping is tested too). */
export function formulaTensors(c: ModelConfig): Map<string, {shape: number[]; data: Float32Array}> {
  const out = new Map<string, {shape: number[]; data: Float32Array}>()
  for (const r of mapping(c)) {
    const cs = [...r.hf].reduce((a, ch) => a + ch.charCodeAt(0), 0)
    const low = r.hf.toLowerCase()
    const norm = r.shape.length === 1 && r.hf.endsWith('weight') && (low.includes('norm') || low.includes('ln_'))
    const [offset, scale] = norm ? [1, 0.2] : [0, r.shape.length === 1 ? 0.1 : 0.4]
    out.set(r.hf, {shape: r.shape, data: Float32Array.from({length: r.shape.reduce((a, b) => a * b, 1)}, (_, i) => offset + scale * Math.sin(0.91 * i + 0.37 * cs))})
  }
  return out
}

