"""GPT2LMHeadModel with Hugging Face's parameter names, for when `transformers` is not installed.

Written from transformers' modeling_gpt2.py (the eager path): learned token and position embeddings, pre-LayerNorm
blocks of causal self-attention (fused `c_attn`, scores / sqrt(head_dim)) and a gelu_new MLP, a final LayerNorm and
an lm_head tied to wte (one Parameter, so named_parameters() lists it once, as transformers does) or its own.
Conv1D stores its weight (in, out): y = x·W + b. Names: transformer.wte/wpe, transformer.h.N.{ln_1, attn.c_attn,
attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}, transformer.ln_f, lm_head. ligo's src/model/gpt2.ts is the same function
once `ligo export` has folded its µP multipliers into the weights.
Shapes: B batch, T time, C n_embd, NH heads, HS = C/NH, F n_inner, V vocab.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Conv1D(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head, C = c['n_head'], c['n_embd']
        self.c_attn = Conv1D(C, 3 * C)
        self.c_proj = Conv1D(C, C)
        self.attn_drop = nn.Dropout(c['attn_pdrop'])
        self.resid_drop = nn.Dropout(c['resid_pdrop'])

    def forward(self, x):  # x [B,T,C]
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # [B,NH,T,HS]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(C // self.n_head)  # [B,NH,T,T]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, torch.finfo(att.dtype).min)
        att = self.attn_drop(F.softmax(att, dim=-1).to(v.dtype))
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        return self.resid_drop(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = Conv1D(c['n_embd'], c['n_inner'])
        self.c_proj = Conv1D(c['n_inner'], c['n_embd'])
        self.drop = nn.Dropout(c['resid_pdrop'])

    def forward(self, x):
        return self.drop(self.c_proj(gelu_new(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c['n_embd'], eps=c['layer_norm_epsilon'])
        self.attn = Attention(c)
        self.ln_2 = nn.LayerNorm(c['n_embd'], eps=c['layer_norm_epsilon'])
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c['vocab_size'], c['n_embd'])
        self.wpe = nn.Embedding(c['n_positions'], c['n_embd'])
        self.drop = nn.Dropout(c['embd_pdrop'])
        self.h = nn.ModuleList([Block(c) for _ in range(c['n_layer'])])
        self.ln_f = nn.LayerNorm(c['n_embd'], eps=c['layer_norm_epsilon'])


class GPT2LMHeadModel(nn.Module):
    """forward(input_ids [B,T]) → logits [B,T,V]."""

    def __init__(self, config):
        super().__init__()
        c = gpt2_config(config)
        self.config = c
        self.transformer = Transformer(c)
        self.lm_head = nn.Linear(c['n_embd'], c['vocab_size'], bias=False)
        if c['tie_word_embeddings']:
            self.lm_head.weight = self.transformer.wte.weight

    def forward(self, input_ids):
        tr = self.transformer
        T = input_ids.shape[1]
        if T > self.config['n_positions']:
            raise ValueError(f"sequence length {T} exceeds n_positions {self.config['n_positions']}")
        pos = torch.arange(T, device=input_ids.device)
        x = tr.drop(tr.wte(input_ids) + tr.wpe(pos))
        for block in tr.h:
            x = block(x)
        return self.lm_head(tr.ln_f(x))


def gpt2_config(raw):
    """GPT2Config's keys (with its defaults) from a config.json dict; refuses what this module does not implement."""
    g = lambda *ks, d=None: next((raw[k] for k in ks if raw.get(k) is not None), d)  # noqa: E731
    act = g('activation_function', d='gelu_new')
    if act not in ('gelu_new', 'gelu_pytorch_tanh'):
        raise ValueError(f"config.json: activation_function {act!r}: this GPT-2 module implements gelu_new only")
    for k, want in (('scale_attn_weights', True), ('scale_attn_by_inverse_layer_idx', False), ('reorder_and_upcast_attn', False)):
        if raw.get(k, want) != want:
            raise ValueError(f'config.json: {k} = {raw[k]!r}: this GPT-2 module implements {want} only')
    C = g('n_embd', 'hidden_size', d=768)
    c = dict(vocab_size=g('vocab_size', d=50257), n_positions=g('n_positions', 'max_position_embeddings', d=1024),
             n_embd=C, n_layer=g('n_layer', 'num_hidden_layers', d=12), n_head=g('n_head', 'num_attention_heads', d=12),
             n_inner=g('n_inner', d=4 * C), layer_norm_epsilon=g('layer_norm_epsilon', d=1e-5),
             tie_word_embeddings=g('tie_word_embeddings', d=True),
             embd_pdrop=g('embd_pdrop', d=0.1), resid_pdrop=g('resid_pdrop', d=0.1), attn_pdrop=g('attn_pdrop', d=0.1))
    if c['n_embd'] % c['n_head']:
        raise ValueError(f"config.json: n_head {c['n_head']} does not divide n_embd {c['n_embd']}")
    return c
