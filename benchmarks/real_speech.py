"""Real people: a model trained on synthetic speech only, scored on real recordings.

    python benchmarks/real_speech.py runs/keywords/model.quads --set speech-commands
    python benchmarks/real_speech.py runs/wake/model.quads --set wake-words --out real-wake
    python benchmarks/real_speech.py runs/wake/model.quads --set wake-words --ood speech-commands

The sets are `../shared/data/real-speech/<set>/clips.csv` (path,label,speaker,transcript):
Speech Commands' ten keywords + unknown (1,100 clips, 100 speakers a word) and six wake words
(360 clips). They are validation material: they choose voices, trimming and recipes, and
every clip of a set is scored. The model runs through the product's own prediction step
(`quads.load_model(...).predict`: speech gate, silence trimming, threshold).

Writes results/<out>.json and .md: top-1 accuracy (the model's best answer), the answers
right with rejection (what a user gets), the share rejected (no speech / low confidence),
accuracy per word and the main confusions, beside the model's synthetic test accuracy (its
run's test_metrics.json) so that the synthetic-to-real gap stands in one row. `--ood SET`
also plays the model real speech of another set, none of its commands: how much of it the
model takes for one of its commands (false accepts), refuses as its own "unknown" class, or
rejects. `--against OTHER` pairs this model's top-1 answers with those of results/OTHER.json
(another model on the same clips): McNemar's exact test and a bootstrap interval of the
difference. Each result records the engines that voiced the model's training clips (from
its run's config.json and the corpus's synth.json); `--table` gathers every
results/real-*.json into results/real_speech_table.md, the synthetic-to-real gap per
engine mix.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

from provenance import provenance, provenance_line

RESULTS = Path(__file__).parent / "results"
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-speech"
SETS = ("speech-commands", "wake-words")
UNKNOWN_CLASSES = ("_unknown_", "unknown")  # a model's own class for other speech


def read_set(folder: Path) -> list[tuple[Path, str]]:
    """(clip path, label) of every row of a set's clips.csv."""
    with (folder / "clips.csv").open(newline="", encoding="utf-8") as f:
        return [(folder / row["path"], row["label"]) for row in csv.DictReader(f)]


def score(model_path: Path, clips: list[tuple[Path, str]]) -> dict:
    import quads

    model = quads.load_model(model_path)
    preds = model.predict([p for p, _ in clips], top=1)
    truth = [label for _, label in clips]
    n = len(preds)
    per_word: dict[str, list[bool]] = {}
    confused = Counter()
    for pred, label in zip(preds, truth):
        per_word.setdefault(label, []).append(pred.best == label)
        if pred.best != label:
            confused[(label, pred.best)] += 1
    return {
        "n": n,
        "engine": model.engine,
        "threshold": model.rejection.get("threshold", 0.0),
        "top1_accuracy": sum(p.best == t for p, t in zip(preds, truth)) / n,
        "answered_right": sum(p.intent == t for p, t in zip(preds, truth)) / n,
        "rejected": sum(p.intent is None for p in preds) / n,
        "rejected_no_speech": sum(p.reason == "no speech" for p in preds) / n,
        "errors": sum(p.error is not None for p in preds),
        "per_word": {w: sum(r) / len(r) for w, r in sorted(per_word.items())},
        "confusions": [[t, p, c] for (t, p), c in confused.most_common(8)],
        "top1_right": [int(p.best == t) for p, t in zip(preds, truth)],  # clips.csv order
    }


def training_engines(model_path: Path) -> dict[str, int] | None:
    """Training clips per engine of the corpus the model was trained on, where recorded."""
    try:
        root = json.loads((model_path.parent / "config.json").read_text())["data"]["root"]
        synth = json.loads((Path(root) / "synth.json").read_text())
        return {e: n for e, n in synth["splits"]["train"]["engines"].items() if n}
    except (OSError, KeyError, ValueError):
        return None


def table() -> str:
    """Every results/real-*.json with its training engines: synthetic test against real."""
    lines = [
        "# Synthetic test against real people, per engine mix",
        "",
        "Every `benchmarks/real_speech.py` result that records its model's training clips "
        "(`python benchmarks/real_speech.py --table`).",
        "",
        "| results | real set | training clips per engine | synthetic test | real top-1 | gap |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for path in sorted(RESULTS.glob("real-*.json")):
        r = json.loads(path.read_text())
        engines, synthetic = r.get("training_engines"), r.get("synthetic_test_accuracy")
        if not engines or synthetic is None:
            continue
        mix = ", ".join(f"{e} {n:,}" for e, n in sorted(engines.items()))
        real = r["real"]["top1_accuracy"]
        lines.append(
            f"| [{path.stem}]({path.stem}.md) | {r['set']} | {mix} | {100 * synthetic:.1f} % "
            f"| {100 * real:.1f} % | {100 * (real - synthetic):+.1f} |"
        )
    return "\n".join(lines) + "\n"


def against(result: dict, name: str) -> dict:
    """This model's top-1 against another's (results/NAME.json) on the same clips."""
    from quads.evaluation.significance import compare

    other = json.loads((RESULTS / f"{name}.json").read_text())
    a, b = result["real"]["top1_right"], other["real"].get("top1_right")
    if other["set"] != result["set"] or b is None or len(b) != len(a):
        raise SystemExit(f"results/{name}.json: not per-clip answers of the same {result['set']}")
    return {"name": name, **compare(a, b)}


def score_ood(model_path: Path, clips: list[tuple[Path, str]]) -> dict:
    """Real speech that holds none of the model's commands: what the model makes of it."""
    import quads

    model = quads.load_model(model_path)
    preds = model.predict([p for p, _ in clips], top=1)
    n = len(preds)
    accepted = [p.intent for p in preds if p.intent is not None and p.intent not in UNKNOWN_CLASSES]
    return {
        "n": n,
        "false_accepts": len(accepted) / n,
        "unknown_class": sum(p.intent in UNKNOWN_CLASSES for p in preds) / n,
        "rejected": sum(p.intent is None for p in preds) / n,
        "accepted_as": dict(Counter(accepted).most_common(8)),
    }


def markdown(result: dict) -> str:
    r = result["real"]
    synthetic = result.get("synthetic_test_accuracy")
    lines = [
        f"# {result['set']}: real recordings, model trained on synthetic speech only",
        "",
        provenance_line(result["provenance"]),
        "",
        "| synthetic test | real top-1 | real, answered right | rejected (no speech) |",
        "| --- | --- | --- | --- |",
        f"| {'-' if synthetic is None else f'{100 * synthetic:.1f} %'} "
        f"| {100 * r['top1_accuracy']:.1f} % | {100 * r['answered_right']:.1f} % "
        f"| {100 * r['rejected']:.1f} % ({100 * r['rejected_no_speech']:.1f} %) |",
        "",
        f"{r['n']} clips; threshold {r['threshold']:.3f}. Per word (top-1): "
        + ", ".join(f"{w} {100 * a:.0f} %" for w, a in r["per_word"].items()),
        "",
        "Confusions: " + ", ".join(f"{t} -> {p} ({c})" for t, p, c in r["confusions"]),
    ]
    if "against" in result:
        c = result["against"]
        (lo, hi), m = c["interval_95"], c["mcnemar"]
        lines += [
            "",
            f"Against `{c['name']}` (same clips, top-1): {100 * c['difference']:+.2f} points, "
            f"paired 95 % interval [{100 * lo:+.2f}, {100 * hi:+.2f}], McNemar p {m['p']:.3f} "
            f"({m['a_only']} clips right only here, {m['b_only']} only there): {c['verdict']}.",
        ]
    if "ood" in result:
        o = result["ood"]
        lines += [
            "",
            f"Out of domain: the {o['n']} clips of `{result['ood_set']}` (none of this model's "
            f"commands): {100 * o['false_accepts']:.1f} % taken for a command, "
            f"{100 * o['unknown_class']:.1f} % its own unknown class, {100 * o['rejected']:.1f} % "
            "rejected. Most taken for: "
            + ", ".join(f"{k} ({v})" for k, v in o["accepted_as"].items()),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model", nargs="?", help=".quads file trained on synthetic speech")
    p.add_argument("--set", choices=SETS, help="the real recordings to score")
    p.add_argument("--real", type=Path, default=REAL, help="folder of the real-speech sets")
    p.add_argument("--out", help="results/<OUT>.{json,md} (default: real-<set>)")
    p.add_argument("--ood", choices=SETS, help="a set of none of the model's commands")
    p.add_argument("--against", metavar="OTHER", help="pair with results/OTHER.json")
    p.add_argument("--table", action="store_true", help="write results/real_speech_table.md")
    args = p.parse_args()
    if args.table:
        if args.model or args.set:
            p.error("--table reads the results files: no model or --set with it")
        text = table()
        (RESULTS / "real_speech_table.md").write_text(text)
        print(text)
        return
    if not args.model or not args.set:
        p.error("a model and --set are needed (or --table)")
    if args.ood == args.set:
        p.error(f"--ood {args.ood}: that is the set the model is scored on")
    model = Path(args.model)
    clips = read_set(args.real / args.set)
    result = {"set": args.set, "real": score(model, clips), "provenance": provenance(model)}
    if args.ood:
        result["ood_set"] = args.ood
        result["ood"] = score_ood(model, read_set(args.real / args.ood))
    if args.against:
        result["against"] = against(result, args.against)
    result["training_engines"] = training_engines(model)
    metrics = model.parent / "test_metrics.json"
    if metrics.is_file():
        result["synthetic_test_accuracy"] = json.loads(metrics.read_text())["accuracy"]
    out = args.out or f"real-{args.set}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{out}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{out}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
