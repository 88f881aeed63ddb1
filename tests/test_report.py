import json

import pytest

from quads.report import load_log, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HEADER = "epoch,iteration,phase,train_loss,train_acc,val_acc,val_f1,lr,seconds\n"


def _row(name, strategy, init, bits, acc, f1, size=None, gmacs=None, run=None):
    return {
        "name": name,
        "strategy": strategy,
        "init": init,
        "bits": bits,
        "accuracy": acc,
        "f1": f1,
        "size_bytes": size,
        "gmacs": gmacs,
        "gmacs_30s": 18.47 if gmacs else None,
        "run": run,
    }


def _results():
    return {
        "dataset": "synthetic FSC",
        "layout": "fsc",
        "teacher": "base",
        "student": "tiny.en",
        "rows": [
            _row("QUADS 4-bit", "quads", "pretrained", 4, 0.9739, 0.9612, 3822160, 1.9, "q4"),
            _row("QUADS 8-bit", "quads", "pretrained", 8, 0.98, 0.975, 7644319, 1.9, "q8"),
            _row("Fine-tune", "finetune", "pretrained", 32, 0.99, 0.985, 30577276, 1.9),
            _row("Fine-tune (random)", "finetune", "random", 32, 0.5, None),
            _row("Distill 4-bit", "distill_ptq", "pretrained", 4, 0.12, 0.05, 3822160, 1.9, "gone"),
        ],
        "reference": [_row("QUADS (paper)", "quads", "pretrained", 4, 0.9739, 0.9612, 3827302)],
    }


def _write_run(tmp_path, results):
    (tmp_path / "results.json").write_text(json.dumps(results))
    phases = ["distill", "distill", "quantize", "quantize", "distill", "quantize"]
    for run in ("q4", "q8"):
        lines = [
            f"{e + 1},{e // 2},{p},{1.0 / (e + 1)},0.5,{0.5 + 0.08 * e},0.4,0.001,1.5\n"
            for e, p in enumerate(phases)
        ]
        (tmp_path / run).mkdir()
        (tmp_path / run / "log.csv").write_text(HEADER + "".join(lines))


def _table_line(md, first_cell):
    return next(line for line in md.splitlines() if line.startswith(f"| {first_cell} |"))


def test_write_report_tables_and_plots(tmp_path):
    _write_run(tmp_path, _results())
    out = write_report(tmp_path)
    assert out == tmp_path / "report.md"
    md = out.read_text()

    assert "synthetic FSC" in md and "tiny.en" in md
    # Main table: acc %, F1 %, val acc %, size in MB of 2^20 bytes, GMACs, GMACs at 30 s.
    cells = [c.strip() for c in _table_line(md, "QUADS 4-bit").split("|")[1:-1]]
    assert cells == [
        "QUADS 4-bit", "quads", "pretrained", "4", "97.39", "96.12", "—", "3.65", "1.90", "18.5"
    ]  # fmt: skip
    random = [c.strip() for c in _table_line(md, "Fine-tune (random)").split("|")[1:-1]]
    assert random[4:] == ["50.00", "—", "—", "—", "—", "—"]

    # Ablation: finetune at 32 bits has both inits; quads has no random-init row.
    ablation = md[md.index("## Ablation") : md.index("## Paper reference")]
    assert "| finetune | 32 | 99.00 | 98.50 | 50.00 | — |" in ablation
    assert "| quads | 8 | 98.00 | 97.50 | — | — |" in ablation
    assert ablation.index("| finetune |") < ablation.index("| distill_ptq |")
    assert ablation.index("| distill_ptq |") < ablation.index("| quads | 8 |")
    assert ablation.index("| quads | 8 |") < ablation.index("| quads | 4 |")

    assert "QUADS (paper)" in md[md.index("## Paper reference") :]
    # The missing log is a note, not an error.
    assert "no gone/log.csv" in md

    for name in ("accuracy_vs_size.png", "accuracy_vs_bits.png", "curve_q4.png", "curve_q8.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == PNG_MAGIC
        assert len(data) > 5000
        assert f"]({name})" in md


def test_plots_skipped_without_data(tmp_path):
    results = {"dataset": "d", "layout": None, "rows": [_row("A", "qat", "random", 2, None, None)]}
    (tmp_path / "results.json").write_text(json.dumps(results))
    md = write_report(tmp_path).read_text()
    assert "Accuracy vs size: skipped" in md and "Accuracy vs bits: skipped" in md
    assert not (tmp_path / "accuracy_vs_size.png").exists()
    assert "| A | qat | random | 2 | — | — | — | — | — |" in md


@pytest.mark.parametrize(
    "mutate,missing",
    [
        (lambda r: r.pop("rows"), "'rows'"),
        (lambda r: r.pop("dataset"), "'dataset'"),
        (lambda r: r["rows"][1].pop("bits"), "rows[1] is missing key 'bits'"),
        (lambda r: r["reference"][0].pop("f1"), "reference[0] is missing key 'f1'"),
        (lambda r: r["rows"][0].update(accuracy=97.4), "fraction"),
        (lambda r: r["rows"][0].update(strategy="magic"), "strategy 'magic'"),
    ],
)
def test_malformed_results_name_file_and_key(tmp_path, mutate, missing):
    results = _results()
    mutate(results)
    (tmp_path / "results.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="results.json") as e:
        write_report(tmp_path)
    assert missing in str(e.value)


def test_not_json_and_bad_log(tmp_path):
    (tmp_path / "results.json").write_text("{nope")
    with pytest.raises(ValueError, match="results.json: not valid JSON"):
        write_report(tmp_path)
    log = tmp_path / "log.csv"
    log.write_text("epoch,phase,val_acc\n1,distill,0.5\n")
    with pytest.raises(ValueError, match="log.csv: missing column 'iteration'"):
        load_log(log)
