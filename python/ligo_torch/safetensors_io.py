"""A small pure-Python safetensors reader and writer (F32, F16, BF16), so nothing needs the safetensors package.

Format (huggingface/safetensors README; ligo's src/checkpoints/safetensors.ts): 8 bytes little-endian u64 N, then N
bytes of UTF-8 JSON {"__metadata__"?: {str: str}, name: {dtype, shape, data_offsets: [begin, end]}}, then the tensor
bytes (C order, little-endian; offsets relative to the data section). Like ligo's writer, ours orders tensors by
name, puts __metadata__ first and pads the JSON with spaces to a multiple of 8 (the data section starts aligned).
The reader checks what a corrupt file would get wrong (sizes, bounds, dtype × shape = bytes) and names the tensor.
"""
import json
import os
import struct
import sys

import torch

DTYPES = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16}
NAMES = {v: k for k, v in DTYPES.items()}
SIZES = {'F32': 4, 'F16': 2, 'BF16': 2}

if sys.byteorder != 'little':  # torch.frombuffer reads native order; safetensors is little-endian
    raise ImportError('ligo_torch.safetensors_io needs a little-endian machine')


class SafetensorsError(ValueError):
    pass


def read_safetensors(path):
    """{name: float tensor (in its stored dtype)}, and the __metadata__ dict."""
    with open(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 8:
        raise SafetensorsError(f'{path}: {len(raw)} bytes is too short for a safetensors file')
    (n,) = struct.unpack('<Q', raw[:8])
    if n < 2 or 8 + n > len(raw):
        raise SafetensorsError(f'{path}: header length {n} does not fit the file ({len(raw)} bytes)')
    try:
        header = json.loads(raw[8:8 + n].decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f'{path}: the header is not UTF-8 JSON ({e})') from None
    meta = header.pop('__metadata__', {}) or {}
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, e in header.items():
        dtype = e.get('dtype')
        if dtype not in DTYPES:
            raise SafetensorsError(f"{path}: tensor '{name}' has dtype {dtype!r}; this reader supports {', '.join(DTYPES)}")
        shape = [int(d) for d in e['shape']]
        begin, end = (int(x) for x in e['data_offsets'])
        numel = 1
        for d in shape:
            numel *= d
        if not 0 <= begin <= end <= len(data) or end - begin != numel * SIZES[dtype]:
            raise SafetensorsError(f"{path}: tensor '{name}' [{dtype} {shape}] has data_offsets [{begin}, {end}] "
                                   f'(expected {numel * SIZES[dtype]} bytes within {len(data)})')
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[dtype]) if numel > 0 else torch.empty(0, dtype=DTYPES[dtype])
        out[name] = t.reshape(shape)
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (float32/float16/bfloat16, any device) to `path` (not atomically: see hf.save_hf_dir)."""
    header = {}
    if metadata:
        header['__metadata__'] = {k: str(metadata[k]) for k in sorted(metadata)}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to('cpu').contiguous()
        if t.dtype not in NAMES:
            raise SafetensorsError(f"tensor '{name}' has dtype {t.dtype}; write float32, float16 or bfloat16")
        b = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() > 0 else b''
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(',', ':')).encode('utf-8')
    js += b' ' * (-len(js) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
