"""From the best checkpoint to the deployed `.quads` file, tested on the test split."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from quads.audio import FeatureSettings
from quads.config import Config
from quads.data.types import Corpus
from quads.evaluation.metrics import score_commands
from quads.evaluation.rejection import calibrate_model
from quads.inference import as_model, load
from quads.models.student import SLUModel
from quads.quant.mixed import codebook_bits, mean_bits
from quads.quant.packing import save_quads
from quads.quant.surgery import drop_latents, post_training_quantize, quantize_model
from quads.runtime.predict import all_read
from quads.train.schedule import deployable_bits
from quads.train.transition import restore_student

log = logging.getLogger("quads")


def export(
    model: SLUModel,
    best: dict,
    cfg: Config,
    settings: FeatureSettings,
    valid_set: Corpus,
    test_set: Corpus,
    out: Path,
    ptq: bool,
) -> dict:
    """Best checkpoint -> (PTQ) -> `out/model.quads`, with the rejection threshold chosen on
    the validation split; the test split is read once, on that file, and its metrics
    written to `out/test_metrics.json`, each clip's answer to `out/test_predictions.jsonl`."""
    restore_student(model, best, cfg)
    drop_latents(model)
    if ptq:
        post_training_quantize(model, cfg.quant)
    elif deployable_bits(cfg) != 32:
        # Codebook layers stay as trained; 16-bit layers trained off the fp16 grid in the
        # last phase are rounded back onto it, so the file stores them in 2 bytes.
        quantize_model(model, cfg.quant)
    path = out / "model.quads"
    meta = {
        "features": settings.to_meta(),
        "layout": cfg.data.layout,
        "bits": deployable_bits(cfg),
        "strategy": cfg.train.strategy,
        "pretrained": cfg.model.pretrained,
        "student": cfg.model.student,
        "teacher": cfg.model.teacher,
        "best_epoch": best["epoch"],
    }
    batch = cfg.train.batch_size
    meta["rejection"] = calibrate_model(as_model(model, settings), valid_set, cfg.rejection, batch)
    size = save_quads(path, model, meta)
    packed = load(path)  # the test split is scored on the file, as a user would run it
    preds = all_read(packed.predict([u.path for u in test_set.utterances], 1, False, batch))
    truth = [u.command for u in test_set.utterances]
    heard = [(p.best, p.heard) for p in preds]
    test = score_commands(truth, heard, model.labels, model.heads.slot_names, cfg.data.layout)
    (out / "test_metrics.json").write_text(json.dumps(test, indent=2))
    with (out / "test_predictions.jsonl").open("w") as f:  # per clip: for paired tests
        for u, (intent, slots) in zip(test_set.utterances, heard):
            line = {
                "file": str(u.path),
                "intent": intent,
                "slots": slots,
                "right": u.command == (intent, slots),
            }
            f.write(json.dumps(line) + "\n")
    log.info(
        "test accuracy %.4f, macro-F1 %.4f, commands right %.4f; %s is %d bytes",
        test["accuracy"],
        test["f1"],
        test["command_acceptance"],
        path,
        size,
    )
    bits = codebook_bits(model)
    return {
        "strategy": cfg.train.strategy,
        "init": "pretrained" if cfg.model.pretrained else "random",
        "bits": meta["bits"],
        "accuracy": test["accuracy"],
        "f1": test["f1"],
        "command_acceptance": test["command_acceptance"],
        "size_bytes": size,
        "mean_bits": mean_bits(model, bits) if bits else None,
        "best_epoch": best["epoch"],
        "best_val_acc": best["val_acc"],
        "model": str(path),
    }
