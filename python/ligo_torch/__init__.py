"""ligo_torch: continue training a model exported by `ligo export` in PyTorch (DDP/FSDP under torchrun).

Modules: safetensors_io (read/write), gpt2 / llama (HF-named modules for when transformers is absent), hf (HF
directories), mup (ligo_mup.json → AdamW param groups), optim (MupAdamW, ligo's schedule and clipping), data
(ligo's token files and batch sampler), train (the torchrun script), tool (checks the tests call).
"""
from .mup import load_table, param_groups, sp_table  # noqa: F401
from .optim import MupAdamW, clip_grad_norm_, lr_at, make_optimizer, set_lr  # noqa: F401
