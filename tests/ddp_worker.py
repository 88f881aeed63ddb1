"""Run by tests/test_mct.py under `torchrun --nproc_per_node 2`: one distillation epoch with
DistributedDataParallel (gloo), then rank 0 compares the weights every rank holds."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from test_mct import tiny_config  # tests/ is on sys.path: this script lives there

from quads.train.mct import Phase, Trainer, init_distributed

init_distributed()
corpus, student, teacher, out = sys.argv[1:5]
cfg = tiny_config(
    (student, teacher),
    Path(corpus),
    Path(out),
    batch_size=4,
    max_train_utterances=16,
    cache_dir=f"{out}/cache",
)
tr = Trainer(cfg, progress=False)
before = torch.cat([p.detach().flatten().clone() for p in tr.model.parameters()])
phase = Phase("distill", 1, 1)
tr.enter(phase)
tr.train_epoch(phase, tr.optimizer(phase), 1)
after = torch.cat([p.detach().flatten() for p in tr.model.parameters()])
gathered = [torch.zeros_like(after) for _ in range(dist.get_world_size())]
dist.all_gather(gathered, after)
if dist.get_rank() == 0:
    report = {
        "world": dist.get_world_size(),
        "max_rank_difference": max(float((g - after).abs().max()) for g in gathered),
        "moved": float((after - before).abs().max()),
    }
    with open(f"{out}/ddp.json", "w") as f:
        json.dump(report, f)
dist.destroy_process_group()
