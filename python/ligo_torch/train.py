"""Continue training an exported ligo model in PyTorch: DDP (or FSDP) under torchrun, or one process under python.

    torchrun --nproc_per_node N python/ligo_torch/train.py HF_DIR --data DATA -o RUN [--steps S --lr η ...]
    torchrun --nproc_per_node N python/ligo_torch/train.py --resume RUN [--steps S]

Mirrors src/train/trainer.ts: the batch of (step, micro) is BatchSampler's (data.py), each of the W processes
taking an equal block of its rows, so DDP's mean gradient is the full batch's; gradient accumulation over
`accum` micro-batches of `batch` rows; the learning rate is lr_at(step)·lr_mult per tensor (optim.py, the table's
multipliers); the global norm is clipped in ligo's coordinates; metrics.jsonl rows have ligo's fields (step, tokens,
flops, loss, lr, grad_norm, tokens_per_s, elapsed_s; val_loss and val_bpb at evaluations, as src/train/eval.ts
computes them); checkpoints are HF directories (RUN/checkpoint: config.json with its `ligo` key, model.safetensors,
ligo_mup.json, tokenizer.json, plus optimizer.pt and trainer.json to resume) that `ligo import` and `ligo eval`
read. Settings default to the table's `train` (the checkpoint's own run config); flags override them.
"""
import argparse
import contextlib
import json
import os
import shutil
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ligo_torch.data import BatchSampler, DataDir, eval_batches  # noqa: E402
from ligo_torch.hf import load_model, recover_dir, save_hf_dir, train_flops_per_token  # noqa: E402
from ligo_torch.mup import load_table, sp_table  # noqa: E402
from ligo_torch.optim import clip_grad_norm_, grad_sq_sum_ligo, lr_at, make_optimizer, set_lr  # noqa: E402

# ligo's defaults (src/train/config.ts, src/optim/index.ts ADAMW_DEFAULTS) for settings the table does not record.
DEFAULTS = dict(steps=1000, batch=16, seq=128, accum=1, lr=1e-3, warmup=100, schedule='cosine', min_lr_ratio=0.1,
                weight_decay=0.1, beta1=0.9, beta2=0.95, eps=1e-8, grad_clip=1.0, eval_every=100, eval_batches=20,
                save_every=0, seed=1337)
INT_KEYS = ('steps', 'batch', 'seq', 'accum', 'warmup', 'eval_every', 'eval_batches', 'save_every', 'seed')


class UsageError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('model', nargs='?', help='Hugging Face directory written by `ligo export` (config.json, model.safetensors, ligo_mup.json)')
    p.add_argument('--data', '-d', help='prepared data directory (`ligo data prepare`)')
    p.add_argument('--out', '-o', help='run directory to create')
    p.add_argument('--resume', help='continue the run in this directory from its checkpoint (only --steps may change)')
    p.add_argument('--force', action='store_true', help='start over in a non-empty --out')
    for k in DEFAULTS:
        p.add_argument('--' + k.replace('_', '-'), dest=k, type=int if k in INT_KEYS else str if k == 'schedule' else float)
    p.add_argument('--fsdp', action='store_true', help='shard with FullyShardedDataParallel (torch >= 2.0) instead of DDP')
    p.add_argument('--bf16', action='store_true', help='bf16 autocast for the forward pass (GPUs; weights and optimizer stay float32)')
    p.add_argument('--device', help='cuda or cpu (default: cuda when available)')
    return p.parse_args(argv)


def setup_dist(args):
    """(rank, world, device). torchrun sets RANK/WORLD_SIZE/LOCAL_RANK; plain python is one process."""
    cuda = torch.cuda.is_available() if args.device is None else args.device == 'cuda'
    world = int(os.environ.get('WORLD_SIZE', '1'))
    local = int(os.environ.get('LOCAL_RANK', '0'))
    device = torch.device('cuda', local) if cuda else torch.device('cpu')
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 or args.fsdp:
        dist.init_process_group('nccl' if cuda else 'gloo')
    return (dist.get_rank() if dist.is_initialized() else 0), world, device


def settings(args, table, saved=None):
    """Run settings: ligo defaults < the table's `train` < (resume: the run's saved settings) < flags."""
    s = dict(DEFAULTS)
    recorded = (table or {}).get('train') or {}
    if recorded.get('optimizer', 'adamw') != 'adamw':
        print(f"note: the checkpoint was trained with {recorded['optimizer']}; the companion continues with AdamW "
              "(the table's multipliers are AdamW's)", file=sys.stderr)
    s.update({k: recorded[k] for k in DEFAULTS if recorded.get(k) is not None})
    if saved:
        s.update(saved)
        changed = [k for k in DEFAULTS if k != 'steps' and getattr(args, k) is not None and getattr(args, k) != saved[k]]
        if changed:
            raise UsageError(f"--resume continues a run with its saved settings: --{', --'.join(changed)} cannot change (only --steps)")
    s.update({k: getattr(args, k) for k in DEFAULTS if getattr(args, k) is not None})
    if s['schedule'] not in ('cosine', 'linear', 'constant'):
        raise UsageError(f"--schedule {s['schedule']}: expected cosine, linear or constant")
    for k in ('steps', 'batch', 'seq', 'accum'):
        if s[k] < 1:
            raise UsageError(f'--{k} is {s[k]}: expected an integer ≥ 1')
    return s


def main(argv=None):
    args = parse_args(argv)
    if args.fsdp and int(torch.__version__.split('.')[0]) < 2:
        raise UsageError(f'--fsdp needs torch >= 2.0 (FSDP use_orig_params, for per-tensor learning rates); this is torch {torch.__version__}')
    if args.fsdp and 'RANK' not in os.environ:
        raise UsageError('--fsdp runs under torchrun (e.g. torchrun --nproc_per_node 8 python/ligo_torch/train.py ... --fsdp)')
    rank, world, device = setup_dist(args)
    try:
        run(args, rank, world, device)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run(args, rank, world, device):
    lead = rank == 0
    # --- the run directory, the model and the table -------------------------------------------------------------
    trainer = None
    if args.resume:
        if args.out or args.model:
            raise UsageError('--resume RUN continues RUN from RUN/checkpoint: give no model and no --out')
        out = args.resume
        ckpt = os.path.join(out, 'checkpoint')
        if lead:
            recover_dir(ckpt)
        if world > 1:
            dist.barrier()
        if not os.path.exists(os.path.join(ckpt, 'trainer.json')):
            raise UsageError(f'--resume {out}: no {ckpt}/trainer.json (not a run of this companion)')
        with open(os.path.join(ckpt, 'trainer.json')) as f:
            trainer = json.load(f)
        source = ckpt
    else:
        if not args.model or not args.out:
            raise UsageError('give the exported model directory and --out RUN (or --resume RUN)')
        out, source = args.out, args.model
        if lead:
            prepare_out(out, args.force)
    model, config, family, impl = load_model(source, device)
    table = load_table(source, config) or sp_table(model, family)
    if not trainer:
        # The run's provenance in its checkpoints (config.json ligo.provenance; kept on resume): where it started, so
        # that `ligo compare` finds the growth behind it (the exported directory's own ligo.provenance).
        ligo = dict(config.get('ligo') or {})
        ligo['provenance'] = {'companion': 'ligo_torch', 'init_from': os.path.abspath(source)}
        config = {**config, 'ligo': ligo}
    s = settings(args, table, trainer and trainer['train'])
    if s['batch'] % world:
        raise UsageError(f"--batch {s['batch']} is not a multiple of the {world} processes: each takes an equal share of every batch's rows")
    data_dir = args.data or (trainer and trainer['data']['dir'])
    if not data_dir:
        raise UsageError('missing --data: a directory made by `ligo data prepare`')
    data = DataDir(data_dir)
    vocab = config['vocab_size']
    if data.vocab_size > vocab:
        raise UsageError(f"{data_dir}: the tokenizer has {data.vocab_size} tokens but the model's vocab_size is {vocab}")
    sha = data.meta['splits']['train']['sha256']
    if trainer and trainer['data']['sha256'] != sha:
        raise UsageError(f'--resume: {data_dir} is not the data this run was trained on (token hash differs)')

    # --- wrap for data parallelism, build the optimizer ----------------------------------------------------------
    sliced = [n for n, e in table['tensors'].items() if e.get('slices')]
    if args.fsdp:
        net = wrap_fsdp(model, family, device, sliced)
    elif world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == 'cuda' else None)
    else:
        net = model
    opt = make_optimizer(net, table, s['lr'], s['weight_decay'], (s['beta1'], s['beta2']), s['eps'], check_shapes=not args.fsdp)
    state = {'step': 0, 'tokens': 0, 'flops': 0.0, 'elapsed_s': 0.0}
    if trainer:
        opt.load_state_dict(torch.load(os.path.join(source, optimizer_file(args.fsdp, rank)), map_location=device))
        state = {k: trainer[k] for k in state}
    metrics = os.path.join(out, 'metrics.jsonl')
    if lead:
        if trainer:
            truncate_metrics(metrics, state['step'])
        else:
            with open(os.path.join(out, 'run.json'), 'w') as f:
                json.dump({'config': {'train': s}, 'data': data_dir, 'provenance': {
                    'companion': 'ligo_torch', 'init_from': os.path.abspath(source), 'model': impl, 'world_size': world,
                    'device': str(device), 'fsdp': args.fsdp, 'bf16': args.bf16, 'argv': ' '.join(sys.argv[1:])}}, f, indent=2)
            open(metrics, 'w').close()

    fpt = train_flops_per_token(config, family, table, s['seq'])
    tokens_per_step = s['batch'] * s['seq'] * s['accum']
    share = s['batch'] // world
    my_rows = range(rank * share, (rank + 1) * share)
    sampler = BatchSampler(data.train, s['batch'], s['seq'], s['seed'])
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()

    def evaluate():
        return evaluate_loss(net if args.fsdp else model, data, s, device, rank, world, sharded=args.fsdp, autocast=args.bf16)

    def save():
        save_checkpoint(out, net, model, config, table, s, state, opt, source, data_dir, sha, args.fsdp, rank, world)

    if lead:
        print(f"{'resuming' if trainer else 'training'} {impl} {family} ({sum(p.numel() for p in model.parameters()):,} parameters) "
              f"on {world} × {device}{' FSDP' if args.fsdp else ' DDP' if world > 1 else ''}: step {state['step']}/{s['steps']}", file=sys.stderr)
    t0, elapsed0, step0 = time.time(), state['elapsed_s'], state['step']
    net.train()
    while state['step'] < s['steps']:
        t_step = time.time()
        lr = lr_at(state['step'], s['lr'], s['warmup'], s['steps'], s['schedule'], s['min_lr_ratio'])
        set_lr(opt, lr)
        loss_sum = torch.zeros((), dtype=torch.float64)
        for micro in range(s['accum']):
            x, y = sampler.sample(state['step'], micro, my_rows)
            last_micro = micro == s['accum'] - 1
            sync = contextlib.nullcontext() if last_micro or not hasattr(net, 'no_sync') else net.no_sync()
            with sync:
                with autocast:
                    logits = logits_of(net(x.to(device)))
                loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.to(device).reshape(-1))
                (loss / s['accum']).backward()
            loss_sum += loss.detach().double().cpu() / s['accum']
        if world > 1:
            dist.all_reduce(loss_sum)
            loss_sum /= world
        loss = float(loss_sum)
        sq = grad_sq_sum_ligo(opt.param_groups)
        if args.fsdp:  # each process holds a shard of every gradient
            sq = sq.to(device)
            dist.all_reduce(sq)
            sq = sq.cpu()
        grad_norm = clip_grad_norm_(opt.param_groups, s['grad_clip'], sq)
        if not (loss == loss and abs(loss) != float('inf')) or grad_norm != grad_norm or grad_norm == float('inf'):
            raise FloatingPointError(f"loss {loss}, gradient norm {grad_norm} at step {state['step'] + 1}: the run diverged"
                                     f"{'; the last checkpoint is kept in ' + out + '/checkpoint' if os.path.exists(os.path.join(out, 'checkpoint')) else ''}")
        opt.step()
        opt.zero_grad(set_to_none=True)
        state['step'] += 1
        state['tokens'] += tokens_per_step
        state['flops'] += fpt * tokens_per_step
        now = time.time()
        state['elapsed_s'] = elapsed0 + now - t0
        row = {'step': state['step'], 'tokens': state['tokens'], 'flops': state['flops'], 'loss': loss, 'lr': lr,
               'grad_norm': grad_norm, 'tokens_per_s': tokens_per_step / max(now - t_step, 1e-9), 'elapsed_s': state['elapsed_s']}
        last = state['step'] == s['steps']
        if (s['eval_every'] > 0 and state['step'] % s['eval_every'] == 0) or last:
            row['val_loss'], row['val_bpb'] = evaluate()
            net.train()
        if lead:
            append_line(metrics, json.dumps(row))
            print(f"step {row['step']}/{s['steps']}  loss {loss:.4f}  lr {lr:.2e}" + (f"  val {row['val_loss']:.4f}" if 'val_loss' in row else ''), file=sys.stderr)
        if (s['save_every'] > 0 and state['step'] % s['save_every'] == 0) or last:
            save()
    if state['step'] == step0:
        save()


def logits_of(out):
    return out.logits if hasattr(out, 'logits') else out


def evaluate_loss(model, data, s, device, rank, world, sharded=False, autocast=False):
    """eval.ts evaluate: mean cross-entropy over eval_batches of the validation split (0 = all), and bits per byte.
    DDP: process r scores batches r, r+W, ...; the sums are all-reduced. FSDP: every process runs every batch (each
    forward is collective)."""
    model.eval()
    total = torch.zeros(2, dtype=torch.float64)
    ctx = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with torch.no_grad(), ctx:
        for k, (x, y) in enumerate(eval_batches(data.val, s['batch'], s['seq'], s['eval_batches'])):
            if sharded or k % world == rank:
                logits = logits_of(model(x.to(device))).float()
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.to(device).reshape(-1))
                total += torch.tensor([float(loss) * y.numel(), y.numel()], dtype=torch.float64)
    if world > 1 and not sharded:
        total = total.to(device)
        dist.all_reduce(total)
        total = total.cpu()
    loss = float(total[0] / total[1])
    return loss, loss / 0.6931471805599453 / data.bytes_per_token


def wrap_fsdp(model, family, device, sliced):
    """FSDP with use_orig_params (torch >= 2.0), one unit per transformer block, so that named_parameters() keep
    their HF names and the table's groups apply. Not run on ligo's CI (Debian's torch 1.13 cannot import FSDP)."""
    if sliced:
        raise UsageError(f"--fsdp: {', '.join(sliced)} are fused tensors with per-slice µP numbers, which FSDP's flat shards "
                         'cannot apply; train this model with DDP (no --fsdp)')
    import functools

    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
    blocks = model.transformer.h if family == 'gpt2' else model.model.layers
    policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={type(blocks[0])})
    return FSDP(model, auto_wrap_policy=policy, use_orig_params=True, device_id=device if device.type == 'cuda' else None)


def optimizer_file(fsdp, rank):
    return f'optimizer.rank{rank}.pt' if fsdp else 'optimizer.pt'


def save_checkpoint(out, net, model, config, table, s, state, opt, source, data_dir, sha, fsdp, rank, world):
    """RUN/checkpoint as an HF directory, replaced atomically (written by process 0; FSDP: every process stages its
    optimizer shard first)."""
    staged = os.path.join(out, f'.optimizer.rank{rank}.pt.tmp')
    if fsdp:
        from torch.distributed.fsdp import FullStateDictConfig, FullyShardedDataParallel as FSDP, StateDictType
        torch.save(opt.state_dict(), staged)
        with FSDP.state_dict_type(net, StateDictType.FULL_STATE_DICT, FullStateDictConfig(offload_to_cpu=True, rank0_only=True)):
            sd = net.state_dict()
        dist.barrier()
    else:
        sd = model.state_dict()
    if rank == 0:
        tensors = {n: sd[n].detach().float().cpu() for n in table['tensors']}  # a tied readout has no entry: written once
        trainer = {**state, 'optimizer': 'adamw', 'train': s, 'world_size': world, 'fsdp': fsdp,
                   'data': {'dir': os.path.abspath(data_dir), 'sha256': sha}}
        extra = {'trainer.json': lambda p: write_json(p, trainer)}
        if fsdp:
            for r in range(world):
                extra[optimizer_file(True, r)] = (lambda r: lambda p: shutil.move(os.path.join(out, f'.optimizer.rank{r}.pt.tmp'), p))(r)
        else:
            extra['optimizer.pt'] = lambda p: torch.save(opt.state_dict(), p)
        recorded = {**(table.get('train') or {}), **s, 'optimizer': 'adamw'}
        saved_table = None if table.get('synthesized') else {**table, 'train': recorded}
        save_hf_dir(os.path.join(out, 'checkpoint'), tensors, config, saved_table, copy_from=source, extra=extra)
    if world > 1:
        dist.barrier()


def prepare_out(out, force):
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f'{out} exists and is not a directory: choose another --out')
    if os.path.isdir(out) and os.listdir(out):
        if not force:
            raise UsageError(f'{out} is not empty: choose another --out, pass --force to start over, or --resume {out}')
        for f in ('checkpoint', 'checkpoint.new-swap', 'checkpoint.old-swap', 'metrics.jsonl', 'run.json'):
            p = os.path.join(out, f)
            shutil.rmtree(p) if os.path.isdir(p) else os.path.exists(p) and os.remove(p)
    os.makedirs(out, exist_ok=True)


def truncate_metrics(path, step):
    """Drops rows logged after the checkpoint (they are logged again), and a torn last line."""
    if not os.path.exists(path):
        return
    kept = []
    with open(path) as f:
        for line in f:
            try:
                if json.loads(line)['step'] <= step:
                    kept.append(line if line.endswith('\n') else line + '\n')
            except (json.JSONDecodeError, KeyError):
                pass
    with open(path + '.tmp', 'w') as f:
        f.writelines(kept)
    os.replace(path + '.tmp', path)


def append_line(path, line):
    with open(path, 'a') as f:
        f.write(line + '\n')
        f.flush()
        os.fsync(f.fileno())


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


if __name__ == '__main__':
    try:
        main()
    except (UsageError, ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    except FloatingPointError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
