"""Where post-training quantization breaks a model: PTQ one layer at a time, validate.

    python benchmarks/ptq_sensitivity.py --run runs/method/seed0/finetune --bits 4

Takes a full-precision run's checkpoint (`best.pt`, or `--checkpoint`), clusters all its
layers at `--bits` (PTQ), then each layer alone (the others left in full precision), and
validates every version on the run's validation split: the layers whose clustering alone
costs the most are where PTQ fails. Adds the run's PTQ validation after every epoch where its
log has it (`val_acc_<b>bit`, written when PTQ rows reuse the run). Results:
benchmarks/results/fsc/ptq_sensitivity-<run>-<b>bit.{json,md}.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import logging
from pathlib import Path

from provenance import provenance, provenance_line, sha256_file

OUT = Path(__file__).parent / "results" / "fsc"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a full-precision run folder")
    p.add_argument("--bits", type=int, default=4)
    p.add_argument("--checkpoint", default="best.pt", help="checkpoint in the run folder")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    import torch

    from quads.audio import FeatureSettings
    from quads.config import QuantConfig, load_config
    from quads.data.corpus import read_corpus
    from quads.evaluation.metrics import score_commands
    from quads.inference import commands_of, corpus_logits
    from quads.quant.surgery import dense_layers, is_quantized, quantize_model
    from quads.train import checkpoint
    from quads.train.mct import build_student
    from quads.train.transition import restore_student

    if args.threads:
        torch.set_num_threads(args.threads)
    run = Path(args.run)
    cfg = load_config(str(run / "config.json"))
    d = cfg.data
    train = read_corpus(d.root, d.layout, "train")
    valid = read_corpus(d.root, d.layout, "valid")
    model = build_student(cfg, train.labels, train.slots)
    best = checkpoint.load(run / args.checkpoint)
    restore_student(model, best, cfg)
    if is_quantized(model):
        raise SystemExit(
            f"{run / args.checkpoint}: a quantized model; PTQ needs a full-precision one"
        )
    settings = FeatureSettings.from_config(cfg.audio, model.n_mels)
    truth = [u.command for u in valid.utterances]

    def validate(quant: QuantConfig | None) -> float:
        m = copy.deepcopy(model)
        if quant is not None:
            quantize_model(m, quant)
        pred = commands_of(m, corpus_logits(m, valid, settings, cfg.train.batch_size)[0])
        return score_commands(truth, pred, m.labels, m.heads.slot_names, d.layout)[
            "command_acceptance"
        ]

    base = QuantConfig(bits=args.bits, quantize_conv=cfg.quant.quantize_conv)
    result = {"full_precision": validate(None), "all_layers": validate(base), "layers": {}}
    names = [n for n, _ in dense_layers(model)]
    for name in names:
        only = QuantConfig(
            bits=32, bits_per_module={name: args.bits}, quantize_conv=cfg.quant.quantize_conv
        )
        result["layers"][name] = validate(only)
        logging.info("%s alone at %d bits: val %.4f", name, args.bits, result["layers"][name])
    log = run / "log.csv"
    column = f"val_acc_{args.bits}bit"
    with log.open() as f:
        rows = list(csv.DictReader(f))
    if rows and column in rows[0]:
        result["per_epoch"] = [
            {"epoch": int(r["epoch"]), "val_acc": float(r["val_acc"]), column: float(r[column])}
            for r in rows
        ]
    prov = provenance()
    prov["checkpoint_sha256"] = sha256_file(run / args.checkpoint)
    name = f"ptq_sensitivity-{run.name}-{args.bits}bit"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(
        json.dumps({"provenance": prov, "run": str(run), **result}, indent=2) + "\n"
    )
    fp, everything = result["full_precision"], result["all_layers"]
    lines = [
        f"# PTQ at {args.bits} bits, one layer at a time: {run}",
        "",
        f"{provenance_line(prov)} Checkpoint `{args.checkpoint}` (epoch {best['epoch']}); "
        "validation accuracy in %.",
        "",
        f"Full precision {100 * fp:.2f} %; every layer clustered (PTQ) {100 * everything:.2f} %. "
        "Each layer alone (the rest in full precision), the costliest first:",
        "",
        "| layer | val % | cost (points) |",
        "|---|---|---|",
    ]
    for layer, acc in sorted(result["layers"].items(), key=lambda kv: kv[1]):
        lines.append(f"| {layer} | {100 * acc:.2f} | {100 * (fp - acc):.2f} |")
    if "per_epoch" in result:
        lines += [
            "",
            "PTQ of each epoch's model (the run's log):",
            "",
            f"| epoch | val % | {column} % |",
        ]
        lines.append("|---|---|---|")
        for r in result["per_epoch"]:
            lines.append(f"| {r['epoch']} | {100 * r['val_acc']:.2f} | {100 * r[column]:.2f} |")
    (OUT / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
