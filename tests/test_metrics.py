import numpy as np
import pytest

from quads.evaluation.metrics import evaluate_predictions, format_table, most_confused, split_label


def test_hand_computed_macro_f1_and_per_intent():
    labels = ["a", "b", "c", "d"]
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "c"]
    r = evaluate_predictions(y_true, y_pred, labels)
    # a: tp2 fp0 fn1 -> P 1, R 2/3, F1 0.8
    # b: tp1 fp1 fn1 -> P 1/2, R 1/2, F1 1/2
    # c: tp1 fp1 fn0 -> P 1/2, R 1, F1 2/3
    # d never occurs -> not in the macro mean (sklearn: labels=present)
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert list(r["per_intent"]) == ["a", "b", "c"]
    assert r["per_intent"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    )
    assert r["per_intent"]["c"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert r["confusion"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert r["slot_accuracy"] == {}
    assert r["n"] == 6


def test_class_only_predicted_counts_in_macro_f1():
    # sklearn f1_score(["a","a"], ["a","b"], average="macro", labels=["a","b"]) == 1/3
    r = evaluate_predictions(["a", "a"], ["a", "b"], ["a", "b", "c"])
    assert r["per_intent"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["f1"] == pytest.approx((2 / 3 + 0.0) / 2)


def test_perfect_predictions():
    r = evaluate_predictions(["x", "y"], ["x", "y"], ["x", "y"])
    assert r["accuracy"] == r["f1"] == 1.0


def test_fsc_needs_all_three_slots():
    labels = [
        "activate|lights|kitchen",
        "activate|lights|bedroom",
        "deactivate|music|none",
        "increase|volume|none",
        "increase|heat|none",
    ]
    y_true = [
        "activate|lights|kitchen",
        "deactivate|music|none",
        "increase|volume|none",
        "activate|lights|bedroom",
    ]
    y_pred = [
        "activate|lights|bedroom",  # location wrong -> utterance wrong
        "deactivate|music|none",
        "increase|heat|none",  # object wrong -> utterance wrong
        "activate|lights|bedroom",
    ]
    r = evaluate_predictions(y_true, y_pred, labels, layout="fsc")
    assert r["accuracy"] == pytest.approx(2 / 4)  # every slot >= 75 %, yet only half right
    assert r["slot_accuracy"] == pytest.approx({"action": 1.0, "object": 0.75, "location": 0.75})


def test_slurp_scenario_and_action():
    labels = ["iot_hue_lightoff", "iot_hue_lighton", "alarm_set", "calendar_set"]
    y_true = ["iot_hue_lightoff", "alarm_set", "calendar_set", "iot_hue_lighton"]
    y_pred = ["iot_hue_lighton", "calendar_set", "calendar_set", "iot_hue_lighton"]
    r = evaluate_predictions(y_true, y_pred, labels, layout="slurp")
    assert r["accuracy"] == pytest.approx(0.5)
    # scenario: iot=iot, alarm!=calendar, ok, ok ; action: lightoff!=lighton, set=set, ok, ok
    assert r["slot_accuracy"] == pytest.approx({"scenario": 0.75, "action": 0.75})
    assert split_label("iot_hue_lightoff", "slurp") == ("iot", "hue_lightoff")


def test_bad_inputs():
    with pytest.raises(ValueError, match="items"):
        evaluate_predictions(["a"], ["a", "a"], ["a"])
    with pytest.raises(ValueError, match="no predictions"):
        evaluate_predictions([], [], ["a"])
    with pytest.raises(ValueError, match="label space"):
        evaluate_predictions(["a"], ["z"], ["a"])
    with pytest.raises(ValueError, match="layout"):
        evaluate_predictions(["a"], ["a"], ["a"], layout="snips")
    with pytest.raises(ValueError, match="action\\|object\\|location"):
        evaluate_predictions(["a"], ["a"], ["a"], layout="fsc")
    with pytest.raises(ValueError, match="scenario_action"):
        evaluate_predictions(["a"], ["a"], ["a"], layout="slurp")


def test_format_table_and_most_confused():
    labels = ["activate|lights|kitchen", "activate|lights|bedroom"]
    y_true = [labels[0], labels[0], labels[1]]
    y_pred = [labels[1], labels[0], labels[1]]
    r = evaluate_predictions(y_true, y_pred, labels, layout="fsc")
    assert most_confused(r) == [(labels[0], labels[1], 1)]
    text = format_table(r)
    assert "accuracy         66.67 %" in text
    assert "location acc" in text and "action acc" in text
    # per-intent row: precision 1.00, recall 0.50, F1 0.667, support 2
    row = next(line for line in text.splitlines() if line.startswith(labels[0]))
    assert row.split()[1:] == ["100.00", "50.00", "66.67", "2"]


def test_paired_tests_call_a_gap_within_noise_a_tie():
    from quads.evaluation.significance import mcnemar, paired_interval, verdict

    rng = np.random.default_rng(1)
    a = rng.random((3, 900)) < 0.97
    b = a.copy()
    b[:, :2] = ~b[:, :2]  # two clips per seed differ: noise
    assert verdict(paired_interval(a, b)) == "tie" and mcnemar(a, b)["p"] > 0.05
    worse = a & (rng.random((3, 900)) < 0.9)  # b loses 10 % of what a gets right
    result = mcnemar(a, worse)
    assert result["b_only"] == 0 and result["a_only"] > 100 and result["p"] < 1e-6
    lo, hi = paired_interval(a, worse)
    assert 0 < lo < hi and verdict((lo, hi)) == "better" and verdict((-hi, -lo)) == "worse"
    with pytest.raises(ValueError, match="same clips"):
        mcnemar(a, b[:, :10])


def test_compare_is_the_three_tests_together():
    from quads.evaluation.significance import compare, mcnemar, paired_interval, verdict

    rng = np.random.default_rng(3)
    a, b = rng.random((2, 300)) < 0.9, rng.random((2, 300)) < 0.6
    c = compare(a, b)
    assert c["difference"] == pytest.approx(a.mean() - b.mean())
    assert c["interval_95"] == paired_interval(a, b) and c["mcnemar"] == mcnemar(a, b)
    assert c["verdict"] == verdict(c["interval_95"]) == "better"
