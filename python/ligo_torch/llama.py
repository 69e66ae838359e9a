"""LlamaForCausalLM with Hugging Face's parameter names, for when `transformers` is not installed.

Written from transformers' modeling_llama.py (the eager path): token embedding, pre-RMSNorm blocks of causal
self-attention with rotary positions in HF's rotate_half convention and grouped key/value heads (repeat_kv), a
SwiGLU MLP, a final RMSNorm and an lm_head (untied by default; tied = one Parameter with embed_tokens). nn.Linear
stores (out, in). Names: model.embed_tokens, model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj,
post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm, lm_head. ligo's src/model/llama.ts is the same
function once `ligo export` has folded its µP multipliers into the weights.
Shapes: B batch, T time, C hidden, NH query heads, NKV key/value heads, HS head_dim, F intermediate, V vocab.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rope(T, HS, theta, device):
    """cos, sin [T,HS]: HF's default rotary tables (inv_freq in float32, frequencies repeated over both halves)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, HS, 2, dtype=torch.int64, device=device).float() / HS))
    freqs = torch.outer(torch.arange(T, device=device).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh, self.nkv, self.hs = c['num_attention_heads'], c['num_key_value_heads'], c['head_dim']
        C = c['hidden_size']
        self.q_proj = nn.Linear(C, self.nh * self.hs, bias=False)
        self.k_proj = nn.Linear(C, self.nkv * self.hs, bias=False)
        self.v_proj = nn.Linear(C, self.nkv * self.hs, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hs, C, bias=False)

    def forward(self, x, cos, sin):  # x [B,T,C]
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hs).transpose(1, 2)  # [B,NH,T,HS]
        k = self.k_proj(x).view(B, T, self.nkv, self.hs).transpose(1, 2)  # [B,NKV,T,HS]
        v = self.v_proj(x).view(B, T, self.nkv, self.hs).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = (t.repeat_interleave(self.nh // self.nkv, dim=1) for t in (k, v))  # repeat_kv → [B,NH,T,HS]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hs)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = F.softmax(att.masked_fill(~mask, torch.finfo(att.dtype).min), dim=-1, dtype=torch.float32).to(q.dtype)
        return self.o_proj((att @ v).transpose(1, 2).reshape(B, T, self.nh * self.hs))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, Fd = c['hidden_size'], c['intermediate_size']
        self.gate_proj = nn.Linear(C, Fd, bias=False)
        self.up_proj = nn.Linear(C, Fd, bias=False)
        self.down_proj = nn.Linear(Fd, C, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])
        self.mlp = MLP(c)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c['vocab_size'], c['hidden_size'])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c['num_hidden_layers'])])
        self.norm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])


class LlamaForCausalLM(nn.Module):
    """forward(input_ids [B,T]) → logits [B,T,V]."""

    def __init__(self, config):
        super().__init__()
        c = llama_config(config)
        self.config = c
        self.model = Model(c)
        self.lm_head = nn.Linear(c['hidden_size'], c['vocab_size'], bias=False)
        if c['tie_word_embeddings']:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids):
        T = input_ids.shape[1]
        cos, sin = rope(T, self.config['head_dim'], self.config['rope_theta'], input_ids.device)
        x = self.model.embed_tokens(input_ids)
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.model.norm(x))


def llama_config(raw):
    """LlamaConfig's keys (with its defaults) from a config.json dict; refuses what this module does not implement."""
    g = lambda k, d=None: raw[k] if raw.get(k) is not None else d  # noqa: E731
    for k, ok, want in (('hidden_act', lambda v: v == 'silu', "'silu'"), ('attention_bias', lambda v: not v, 'false'),
                        ('mlp_bias', lambda v: not v, 'false'), ('rope_scaling', lambda v: v is None or (v.get('rope_type') or v.get('type')) == 'default', 'null')):
        if raw.get(k) is not None and not ok(raw[k]):
            raise ValueError(f'config.json: {k} = {raw[k]!r}: this Llama module implements {want} only')
    C, nh = g('hidden_size', 4096), g('num_attention_heads', 32)
    rope_params = raw.get('rope_parameters') or {}
    c = dict(vocab_size=g('vocab_size', 32000), hidden_size=C, intermediate_size=g('intermediate_size', 11008),
             num_hidden_layers=g('num_hidden_layers', 32), num_attention_heads=nh, num_key_value_heads=g('num_key_value_heads', nh),
             head_dim=g('head_dim', C // nh), rms_norm_eps=g('rms_norm_eps', 1e-6),
             rope_theta=rope_params.get('rope_theta', g('rope_theta', 10000.0)),
             max_position_embeddings=g('max_position_embeddings', 2048), tie_word_embeddings=g('tie_word_embeddings', False))
    if nh % c['num_key_value_heads']:
        raise ValueError(f"config.json: num_key_value_heads {c['num_key_value_heads']} does not divide num_attention_heads {nh}")
    return c
