"""ligo's prepared data and its batches, bit for bit: the batches `ligo train` draws are the batches drawn here.

Mirrors src/data/tokens.ts (token files), src/data/prepare.ts (the directory: train.bin, val.bin, meta.json),
src/data/rng.ts (hash64 / counterInt: SplitMix64's finaliser over the words) and src/data/batches.ts (BatchSampler:
row b of step s, micro-batch u starts at counterInt(length - seq, seed, s, u, b); evalBatches: non-overlapping
windows front to back). A batch is inputs[B, T] and targets[B, T] = the next tokens.
"""
import json
import os

import numpy as np
import torch

HEADER_BYTES = 64
MAGIC = b'LIGOTOK1'

# --- src/data/rng.ts -------------------------------------------------------------------------------------------
MASK64 = (1 << 64) - 1
GOLDEN64 = 0x9E3779B97F4A7C15


def mix64(z):
    """The SplitMix64 finaliser (rng.ts mix64)."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def hash64(*words):
    """rng.ts hash64: a 64-bit hash of a sequence of integers (negatives taken modulo 2^64)."""
    h = 0x243F6A8885A308D3
    for k, w in enumerate(words):
        h = mix64(h ^ mix64((w & MASK64) + GOLDEN64 * (k + 1)))
    return h


def counter_int(n, *words):
    """rng.ts counterInt: a uniform integer in [0, n) from the hash of `words` (multiply-shift)."""
    return (hash64(*words) * n) >> 64


# --- src/data/tokens.ts, src/data/prepare.ts -------------------------------------------------------------------
class TokenFile:
    """A token file: 64-byte header (magic, version, bytes per token, vocab, count), then little-endian tokens."""

    def __init__(self, path):
        self.path = path
        with open(path, 'rb') as f:
            h = f.read(HEADER_BYTES)
        if len(h) < HEADER_BYTES or h[:8] != MAGIC:
            raise ValueError(f'{path}: not a ligo token file (expected the magic {MAGIC.decode()})')
        version, bpt, vocab = (int.from_bytes(h[o:o + 4], 'little') for o in (8, 12, 16))
        count = int.from_bytes(h[24:32], 'little')
        if version != 1 or bpt not in (2, 4):
            raise ValueError(f'{path}: token file version {version}, {bpt} bytes per token: expected version 1, 2 or 4 bytes')
        if os.path.getsize(path) != HEADER_BYTES + count * bpt:
            raise ValueError(f'{path}: {os.path.getsize(path)} bytes, expected {HEADER_BYTES + count * bpt} for {count} tokens')
        self.vocab_size, self.length = vocab, count
        self.tokens = np.memmap(path, dtype='<u2' if bpt == 2 else '<u4', mode='r', offset=HEADER_BYTES, shape=(count,))

    def read(self, start, count):
        return torch.from_numpy(self.tokens[start:start + count].astype(np.int64))


class DataDir:
    """A directory made by `ligo data prepare`: meta.json (tokenizer, splits with sha256, bytesPerToken), train.bin, val.bin."""

    def __init__(self, path):
        self.path = path
        meta_file = os.path.join(path, 'meta.json')
        if not os.path.exists(meta_file):
            raise ValueError(f'{path}: no meta.json; not a directory made by `ligo data prepare` (or an interrupted one)')
        with open(meta_file) as f:
            self.meta = json.load(f)
        self.train = TokenFile(os.path.join(path, 'train.bin'))
        self.val = TokenFile(os.path.join(path, 'val.bin'))
        for split, tf in (('train', self.train), ('val', self.val)):
            if tf.length != self.meta['splits'][split]['tokens']:
                raise ValueError(f"{tf.path}: {tf.length} tokens but meta.json says {self.meta['splits'][split]['tokens']}")
        self.bytes_per_token = float(self.meta.get('bytesPerToken', 1))
        self.vocab_size = int(self.meta['vocabSize'])


# --- src/data/batches.ts ---------------------------------------------------------------------------------------
class BatchSampler:
    """BatchSampler of batches.ts. `rows` picks a subset of the B rows (a DDP rank's share); default all."""

    def __init__(self, tokens, batch, seq, seed):
        if tokens.length < seq + 1:
            raise ValueError(f'{tokens.path}: {tokens.length} tokens is too few for one window of seq {seq} + 1')
        self.tokens, self.batch, self.seq, self.seed = tokens, batch, seq, seed
        self.starts = tokens.length - seq

    def window_start(self, step, micro, row):
        return counter_int(self.starts, self.seed, step, micro, row)

    def sample(self, step, micro=0, rows=None):
        rows = range(self.batch) if rows is None else rows
        w = torch.stack([self.tokens.read(self.window_start(step, micro, b), self.seq + 1) for b in rows])
        return w[:, :-1], w[:, 1:]  # inputs, targets [len(rows), T]


def eval_batches(tokens, batch, seq, max_batches=0):
    """evalBatches of batches.ts: windows k·T .. k·T+T (+1 target), `batch` per batch, the last may be short."""
    windows = max(0, (tokens.length - 1) // seq)
    if max_batches:
        windows = min(windows, max_batches * batch)
    if windows == 0:
        raise ValueError(f'{tokens.path}: {tokens.length} tokens is too few for one evaluation window of seq {seq} + 1')
    for first in range(0, windows, batch):
        B = min(batch, windows - first)
        block = tokens.read(first * seq, B * seq + 1)
        yield block[:-1].reshape(B, seq), block[1:].reshape(B, seq)
