"""Export a run's last epoch (its checkpoint.pt) as OUT/model.quads, to score it on real
speech beside the epoch validation picked (best.pt).

    python export_last.py RUN OUT
"""

import json
import sys
from pathlib import Path

from quads.config import Config, from_dict
from quads.train import checkpoint
from quads.train.mct import Trainer

run, out = Path(sys.argv[1]), Path(sys.argv[2])
cfg = from_dict(Config, json.loads((run / "config.json").read_text()))
cfg.out_dir = str(out)
cfg.train.threads = 1
out.mkdir(parents=True, exist_ok=True)
trainer = Trainer(cfg, progress=False)
saved = checkpoint.load(run / "checkpoint.pt")
progress = saved["progress"]
last = {**saved["model"], "epoch": progress["epoch"], "val_acc": progress["rows"][-1]["val_acc"]}
checkpoint.save(last, out / "last.pt")
print(json.dumps(trainer.export(out / "last.pt")))
