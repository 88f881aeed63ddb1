"""Intent-classification metrics as the paper reports them.

`evaluate_predictions` returns a plain dict (JSON-able):

    {"n": 120, "layout": "fsc",
     "accuracy": 0.975,          # exact-match over the full label
     "f1": 0.962,                # the paper's "F1": macro-F1 over intents (see below)
     "per_intent": {label: {"precision", "recall", "f1", "support"}},   # present labels only
     "labels": [...],            # the label space, the order of the confusion matrix
     "confusion": [[...]],       # confusion[i][j] = #(true labels[i], predicted labels[j])
     "slot_accuracy": {...}}     # FSC: action/object/location; SLURP: scenario/action;
                                 # generic layouts (manifest, folders) and None: {}

FSC labels are "action|object|location": an utterance counts as correct only when all three
slots are correct, which is exactly full-label accuracy; `slot_accuracy` adds each slot alone.
SLURP labels are "scenario_action", split on the first "_" ("iot_hue_lightoff" -> scenario
"iot", action "hue_lightoff").
"""

from __future__ import annotations

from collections import Counter

from quads.config import LAYOUTS

FSC_SLOTS = ("action", "object", "location")
SLURP_SLOTS = ("scenario", "action")


def split_label(label: str, layout: str | None) -> tuple[str, ...]:
    """The slots of a label: FSC (action, object, location), SLURP (scenario, action)."""
    if layout == "fsc":
        parts = tuple(label.split("|"))
        if len(parts) != 3:
            raise ValueError(f"FSC label must be 'action|object|location', got {label!r}")
        return parts
    if layout == "slurp":
        scenario, sep, action = label.partition("_")
        if not sep:
            raise ValueError(f"SLURP label must be 'scenario_action', got {label!r}")
        return scenario, action
    return (label,)


def _per_class(pairs: list[tuple[str, str]], label: str) -> dict:
    tp = sum(t == label and p == label for t, p in pairs)
    fp = sum(t != label and p == label for t, p in pairs)
    fn = sum(t == label and p != label for t, p in pairs)
    # Undefined ratios count as 0, like sklearn's zero_division default.
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}


def evaluate_predictions(
    y_true: list[str], y_pred: list[str], labels: list[str], layout: str | None = None
) -> dict:
    """Accuracy, macro-F1, per-intent scores, confusion matrix and (FSC/SLURP) slot accuracies.

    F1 convention (the paper's "F1"): the unweighted mean of per-class F1 over the classes
    present in y_true ∪ y_pred, i.e. sklearn's
    `f1_score(y_true, y_pred, average="macro", labels=sorted(set(y_true) | set(y_pred)))`
    with zero_division=0. Classes of `labels` that never occur in either list do not drag the
    mean down. Per-class F1 is 2PR/(P+R), with P = tp/(tp+fp) and R = tp/(tp+fn).
    """
    if layout is not None and layout not in LAYOUTS:  # None: labels are opaque
        raise ValueError(f"layout must be one of {LAYOUTS} or None, got {layout!r}")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    if not y_true:
        raise ValueError("no predictions to evaluate")
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted((set(y_true) | set(y_pred)) - index.keys())
    if unknown:
        raise ValueError(f"labels not in the label space: {unknown[:5]}")

    n = len(y_true)
    pairs = list(zip(y_true, y_pred, strict=True))
    present = [label for label in labels if label in set(y_true) | set(y_pred)]
    per_intent = {label: _per_class(pairs, label) for label in present}

    confusion = [[0] * len(labels) for _ in labels]
    for t, p in pairs:
        confusion[index[t]][index[p]] += 1

    slot_accuracy: dict[str, float] = {}
    slot_names = {"fsc": FSC_SLOTS, "slurp": SLURP_SLOTS}.get(layout, ())
    if slot_names:
        slots = [(split_label(t, layout), split_label(p, layout)) for t, p in pairs]
        for i, slot in enumerate(slot_names):
            slot_accuracy[slot] = sum(t[i] == p[i] for t, p in slots) / n

    return {
        "n": n,
        "layout": layout,
        "accuracy": sum(t == p for t, p in pairs) / n,
        "f1": sum(m["f1"] for m in per_intent.values()) / len(per_intent),
        "per_intent": per_intent,
        "labels": list(labels),
        "confusion": confusion,
        "slot_accuracy": slot_accuracy,
    }


ABSENT = "(absent)"  # a slot not said, in the per-slot confusion


def slot_scores(truth: list[dict[str, str]], pred: list[dict[str, str]], slots: list[str]) -> dict:
    """Per slot: accuracy (its value, or its absence, exactly right), precision, recall and F1
    of the values said (a predicted value is right only if it is the value said) and a
    confusion {said: {heard: count}} ("(absent)" for no value); "slot_f1": the same F1 over
    every slot together (micro)."""
    out: dict = {"slots": {}}
    totals = Counter()
    for name in slots:
        said = [t.get(name) for t in truth]
        heard = [p.get(name) for p in pred]
        tp = sum(s is not None and s == h for s, h in zip(said, heard))
        fp = sum(h is not None and s != h for s, h in zip(said, heard))
        fn = sum(s is not None and s != h for s, h in zip(said, heard))
        totals.update(tp=tp, fp=fp, fn=fn)
        confusion: dict[str, Counter] = {}
        for s, h in zip(said, heard):
            confusion.setdefault(s or ABSENT, Counter())[h or ABSENT] += 1
        out["slots"][name] = {
            "accuracy": sum(s == h for s, h in zip(said, heard)) / len(said),
            **_prf(tp, fp, fn),
            "support": sum(s is not None for s in said),
            "confusion": {s: dict(c.most_common()) for s, c in sorted(confusion.items())},
        }
    out["slot_f1"] = _prf(totals["tp"], totals["fp"], totals["fn"])["f1"]
    return out


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def score_commands(
    truth: list[tuple[str, dict[str, str]]],
    pred: list[tuple[str, dict[str, str]]],
    labels: list[str],
    slots: list[str],
    layout: str | None = None,
) -> dict:
    """`evaluate_predictions` on the intents, plus, for a model with slots, "command
    acceptance" (the intent and every slot exactly right: a slot said and not heard, heard
    and not said, or heard wrong is a miss) and `slot_scores`. Without slots, command
    acceptance is the intent accuracy."""
    result = evaluate_predictions([t for t, _ in truth], [p for p, _ in pred], labels, layout)
    result["command_acceptance"] = sum(t == p for t, p in zip(truth, pred)) / len(truth)
    if slots:
        result |= slot_scores([s for _, s in truth], [s for _, s in pred], slots)
    return result


def breakdown(
    y_true: list[str], y_pred: list[str], groups: list[str], labels: list[str], layout: str | None
) -> dict[str, dict]:
    """Utterances, accuracy and macro-F1 per group (e.g. per TTS engine), groups sorted."""
    out = {}
    for group in sorted(set(groups)):
        idx = [i for i, g in enumerate(groups) if g == group]
        r = evaluate_predictions([y_true[i] for i in idx], [y_pred[i] for i in idx], labels, layout)
        out[group] = {"n": r["n"], "accuracy": r["accuracy"], "f1": r["f1"]}
    return out


def most_confused(result: dict, k: int = 5) -> list[tuple[str, str, int]]:
    """The k most frequent (true, predicted) mistakes from the confusion matrix."""
    labels, confusion = result["labels"], result["confusion"]
    mistakes = Counter(
        {
            (labels[i], labels[j]): c
            for i, row in enumerate(confusion)
            for j, c in enumerate(row)
            if i != j and c
        }
    )
    return [(t, p, c) for (t, p), c in mistakes.most_common(k)]


def format_table(result: dict) -> str:
    """A plain-text table: the top-level metrics, then one row per intent present."""
    lines = [f"utterances      {result['n']}"]
    lines.append(f"accuracy        {100 * result['accuracy']:6.2f} %")
    lines.append(f"macro-F1        {100 * result['f1']:6.2f} %")
    if result.get("slots"):
        lines.append(
            f"commands right  {100 * result['command_acceptance']:6.2f} % (intent + slots)"
        )
        lines.append(f"slot F1         {100 * result['slot_f1']:6.2f} %")
        for name, m in result["slots"].items():
            lines.append(f"slot {name:<10} {100 * m['accuracy']:6.2f} % (F1 {100 * m['f1']:.2f} %)")
    for slot, acc in result["slot_accuracy"].items():
        lines.append(f"{slot + ' acc':<15} {100 * acc:6.2f} %")
    if "rejection" in result:
        r = {k: v if k == "threshold" else 100 * v for k, v in result["rejection"].items()}
        lines.append(
            f"rejected        {r['rejected']:6.2f} % (no speech {r['rejected_no_speech']:.2f} %, "
            f"low confidence {r['rejected_low_confidence']:.2f} %; threshold {r['threshold']:.3f})"
        )
        lines.append(f"acc. w/ reject. {r['accuracy_with_rejection']:6.2f} %")
    for t, p, c in most_confused(result, 3):
        lines.append(f"confused        {t} -> {p} ({c}x)")

    width = max([len("intent")] + [len(label) for label in result["per_intent"]])
    lines.append("")
    lines.append(f"{'intent':<{width}}  precision  recall      f1  support")
    for label, m in result["per_intent"].items():
        lines.append(
            f"{label:<{width}}  {100 * m['precision']:9.2f}  {100 * m['recall']:6.2f}"
            f"  {100 * m['f1']:6.2f}  {m['support']:7d}"
        )
    return "\n".join(lines)
