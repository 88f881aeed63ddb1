"""Multi-stage Combined Training on a tiny Whisper-shaped student and teacher."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_slu_model

from quads.api import load_model
from quads.config import Config, load_config
from quads.quant.layers import CodebookLayer
from quads.quant.packing import load_quads
from quads.train import checkpoint, loop, mct, schedule
from quads.train.mct import Phase, Trainer, TrainingError
from quads.train.schedule import PhaseKind, plan


def tiny_config(whispers, corpus: Path, out: Path, **train) -> Config:
    student, teacher = whispers
    cfg = load_config(
        None,
        [
            f"data.root={corpus}",
            f"out_dir={out}",
            f"model.student={student}",
            f"model.teacher={teacher}",
            "audio.context_seconds=3.0",
            "train.batch_size=8",
            "train.max_train_utterances=24",
            "train.iterations=1",
            "train.epochs_per_phase=1",
            "train.final_quant_epochs=1",
            "train.lr=1e-3",
            "train.centroid_lr=1e-3",
            "quant.bits=3",
            "quant.kmeans_iters=5",
        ],
    )
    cfg.train = dataclasses.replace(cfg.train, **train)
    return cfg


def test_every_strategy_gets_the_same_epoch_budget():
    cfg = Config()
    budgets = {}
    for strategy in schedule.STRATEGIES:
        cfg.train.strategy = strategy
        phases, _ = plan(cfg)
        budgets[strategy] = sum(p.epochs for p in phases)
    assert len(set(budgets.values())) == 1, budgets
    cfg.train.strategy = "quads"
    phases, ptq = plan(cfg)
    kinds = [p.kind for p in phases]
    # By default the quantization phases are quantization-aware (codes follow the weights).
    assert kinds == ["distill", "qat"] * 5 + ["qat"] and not ptq
    assert [p.iteration for p in phases[:4]] == [1, 1, 2, 2]
    assert all(p.recluster for p in phases[1:-1:2]) and not phases[-1].recluster
    cfg.train.codes = "fixed"  # the paper's centroid-only quantization phases
    assert [p.kind for p in plan(cfg)[0]] == ["distill", "quantize"] * 5 + ["quantize"]
    cfg.train.codes = "follow"
    cfg.train.strategy = "distill_ptq"
    assert plan(cfg) == ([Phase("distill", 21)], True)
    cfg.train.strategy = "qat"  # fine-tune, then quantization-aware training, no teacher
    phases = plan(cfg)[0]
    assert [(p.kind, p.epochs) for p in phases] == [("finetune", 10), ("qat", 11)]
    assert not any(p.distils for p in phases)
    cfg.train.strategy = "distill_qat"
    assert [p.kind for p in plan(cfg)[0]] == [PhaseKind.DISTILL, PhaseKind.QAT]
    cfg.train.strategy = "nonsense"
    with pytest.raises(ValueError, match="unknown strategy"):
        plan(cfg)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_each_phase_changes_what_it_should(whispers, fsc_tiny, tmp_path):
    tr = Trainer(tiny_config(whispers, fsc_tiny, tmp_path), progress=False)
    fc1 = "encoder.layers.0.fc1"

    distill = Phase("distill", 1, 1)
    tr.enter(distill)
    before = _weights(tr.model)
    tr.train_epoch(distill, tr.optimizer(distill), 1)
    after = _weights(tr.model)
    assert not torch.equal(before[f"{fc1}.weight"], after[f"{fc1}.weight"])
    assert torch.equal(  # the fixed sinusoidal positions never train
        before["encoder.embed_positions.weight"], after["encoder.embed_positions.weight"]
    )

    quantize = Phase("quantize", 1, 1, recluster=True)
    tr.enter(quantize)
    layer = tr.model.get_submodule(fc1)
    assert isinstance(layer, CodebookLayer) and layer.centroids.numel() == 2**3
    assert torch.equal(layer.latent.detach(), after[f"{fc1}.weight"])  # clustered from these
    codes, centroids = layer.codes.clone(), layer.centroids.detach().clone()
    latent = layer.latent.detach().clone()
    tr.train_epoch(quantize, tr.optimizer(quantize), 2)
    assert torch.equal(layer.codes, codes)  # codes fixed
    assert not torch.equal(layer.centroids.detach(), centroids)  # centroids trained
    assert torch.equal(layer.latent.detach(), latent)  # frozen while the codes ignore it
    assert torch.unique(layer.weight.detach()).numel() <= 8  # forward: centroids[codes] only

    # The next distillation phase continues from the latent weights moved by their
    # centroid's drift, not from centroids[codes].
    drift = (layer.centroids.detach() - centroids)[codes.long()]
    quantized = layer.weight.detach().clone()
    tr.enter(Phase("distill", 1, 2))
    dense = tr.model.get_submodule(fc1)
    assert isinstance(dense, torch.nn.Linear)
    torch.testing.assert_close(dense.weight.detach(), latent + drift)
    assert not torch.equal(dense.weight.detach(), quantized)


def test_ptq_ships_the_checkpoint_its_quantized_validation_chose(
    whispers, fsc_tiny, tmp_path, monkeypatch
):
    # Full-precision validation says epoch 1, the clustered copy's says epoch 2: a PTQ row
    # must ship epoch 2 (issue 25's fair selection), and log both.
    cfg = tiny_config(whispers, fsc_tiny, tmp_path / "run", strategy="distill_ptq")
    full = iter([0.9, 0.5, 0.1])
    clustered = iter([0.1, 0.8, 0.3])
    plain = Trainer.validate

    def validate(self, model=None):
        row = plain(self, model)
        return row if model is not None else {**row, "val_acc": next(full)}

    monkeypatch.setattr(Trainer, "validate", validate)
    monkeypatch.setattr(Trainer, "validate_ptq", lambda self, bits: next(clustered))
    results = Trainer(cfg, progress=False).run()
    log_rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    column = log_rows[0].split(",").index("val_acc_3bit")
    assert [float(r.split(",")[column]) for r in log_rows[1:]] == [0.1, 0.8, 0.3]
    assert results["best_epoch"] == 2
    assert checkpoint.load(tmp_path / "run" / "best-3bit.pt")["epoch"] == 2
    assert checkpoint.load(tmp_path / "run" / "best.pt")["epoch"] == 1  # full precision's pick


def test_restart_quantized_keeps_the_old_rule(whispers, fsc_tiny, tmp_path):
    tr = Trainer(tiny_config(whispers, fsc_tiny, tmp_path, restart="quantized"), progress=False)
    quantize = Phase("quantize", 1, 1, recluster=True)
    tr.enter(quantize)
    layer = tr.model.get_submodule("encoder.layers.0.fc1")
    assert layer.latent is None  # centroids only, as the paper trains them
    tr.train_epoch(quantize, tr.optimizer(quantize), 1)
    quantized = layer.weight.detach().clone()
    tr.enter(Phase("distill", 1, 2))
    assert torch.equal(tr.model.get_submodule("encoder.layers.0.fc1").weight, quantized)


def test_qat_gradient_reaches_centroids_and_latent_straight_through():
    from quads.config import QuantConfig
    from quads.quant import quantize_model

    model = tiny_slu_model()
    quantize_model(model, QuantConfig(bits=2), keep_latent=True)
    layer = model.encoder.layers[0].fc1
    layer.set_reassign(True)  # quantization-aware training: the latent weights train
    x = torch.randn(3, layer.in_features)
    y = layer(x)
    w_q = layer.centroids.detach()[layer.codes.long()]
    torch.testing.assert_close(y, torch.nn.functional.linear(x, w_q, layer.bias))  # forward
    y.square().sum().backward()
    dense_grad = torch.autograd.grad(
        torch.nn.functional.linear(x, w_q.requires_grad_(), layer.bias).square().sum(), w_q
    )[0]
    torch.testing.assert_close(layer.latent.grad, dense_grad)  # straight-through
    per_centroid = torch.zeros(4).index_add_(0, layer.codes.long().flatten(), dense_grad.flatten())
    torch.testing.assert_close(layer.centroids.grad, per_centroid)  # the paper's rule


def test_qat_reassigns_codes_as_the_latent_weights_move(whispers, fsc_tiny, tmp_path):
    tr = Trainer(tiny_config(whispers, fsc_tiny, tmp_path, strategy="qat"), progress=False)
    qat = tr.phases[-1]
    assert qat.kind == PhaseKind.QAT and not qat.distils
    tr.enter(qat)
    layer = tr.model.get_submodule("encoder.layers.0.fc1")
    assert layer.reassign and layer.latent is not None
    with torch.no_grad():  # move every latent weight onto another centroid's side
        layer.latent.copy_(layer.centroids[(layer.codes.long() + 1) % 8])
    codes = layer.codes.clone()
    tr.model(torch.zeros(1, 80, 300))
    assert not torch.equal(layer.codes, codes)
    centroids = layer.centroids.detach()
    nearest = (layer.latent.detach()[..., None] - centroids).abs().argmin(-1)
    assert torch.equal(layer.codes.long(), nearest)


def test_optimizer_moments_carry_across_a_phase_transition(whispers, fsc_tiny, tmp_path):
    tr = Trainer(tiny_config(whispers, fsc_tiny, tmp_path), progress=False)
    distill, quantize = tr.phases[0], tr.phases[1]
    fc1 = "encoder.layers.0.fc1"
    tr.enter(distill)
    opt = tr.optimizer(distill)
    tr.train_epoch(distill, opt, 1)
    dense = tr.model.get_submodule(fc1)
    weight_moment = opt.state[dense.weight]["exp_avg"].clone()
    bias_moment = opt.state[dense.bias]["exp_avg"].clone()
    tr.moments.update(loop.named_state(opt, tr._named(distill)))

    tr.enter(quantize)
    opt = tr.optimizer(quantize)
    layer = tr.model.get_submodule(fc1)
    assert torch.equal(opt.state[layer.bias]["exp_avg"], bias_moment)  # same bias, same moments
    assert layer.centroids not in opt.state  # fresh centroids start afresh
    tr.moments.update(loop.named_state(opt, tr._named(quantize)))

    tr.enter(Phase("distill", 1, 2))  # the weight trains again, with its moments
    opt = tr.optimizer(distill)
    assert torch.equal(opt.state[tr.model.get_submodule(fc1).weight]["exp_avg"], weight_moment)


def test_padding_changes_neither_the_pooled_vector_nor_the_loss(whispers, fsc_tiny, tmp_path):
    """One clip padded to 2 s and to 3 s: same logits, same L1 to the teacher, same loss."""
    from quads.audio import load_audio, log_mel
    from quads.train.losses import FeatureAlignment, quads_loss

    tr = Trainer(tiny_config(whispers, fsc_tiny, tmp_path), progress=False)
    model = tr.model.eval()
    audio = load_audio(tr.train_set.utterances[0].path, 16000)[:16000]
    mels = [log_mel(np.pad(audio, (0, n - audio.size)))[None] for n in (32000, 48000)]
    feats = [model.features(m, output_hidden_states=True) for m in mels]
    logits = [model.classify(f, mask) for f, mask, _ in feats]
    torch.testing.assert_close(logits[0], logits[1], atol=1e-5, rtol=0)
    align = FeatureAlignment(32, 48, 1, pool=4)
    teacher = torch.randn(1, 1, 150 // 4, 48)
    losses = [
        quads_loss(
            lg, torch.tensor([0]), align([h[-1]], teacher[:, :, : h[-1].shape[1] // 4], m), 0.5, 1.0
        )
        for lg, (_, m, h) in zip(logits, feats)
    ]
    torch.testing.assert_close(losses[0], losses[1], atol=1e-5, rtol=0)


def test_a_crafted_pickle_in_a_run_folder_is_refused_and_never_runs(whispers, fsc_tiny, tmp_path):
    cfg = tiny_config(whispers, fsc_tiny, tmp_path / "run")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"progress": Payload()}, out / "checkpoint.pt")
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint.pt: refused"):
        Trainer(cfg, progress=False).run(resume=True)
    assert not marker.exists()
    (out / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint.pt: empty checkpoint"):
        Trainer(cfg, progress=False).run(resume=True)
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint.pt: truncated or corrupted"):
        Trainer(cfg, progress=False).run(resume=True)


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_lives(tmp_path):
    with checkpoint.run_lock(tmp_path):
        with pytest.raises(checkpoint.RunBusyError, match="another run is writing"):
            with checkpoint.run_lock(tmp_path):
                pass
    with checkpoint.run_lock(tmp_path):  # free again once the first is done
        pass


def test_run_exports_a_model_that_predicts(whispers, fsc_tiny, tmp_path):
    cfg = tiny_config(whispers, fsc_tiny, tmp_path / "run")
    result = Trainer(cfg, progress=False).run()
    out = Path(cfg.out_dir)
    for name in ("model.quads", "best.pt", "checkpoint.pt", "log.csv", "run.json"):
        assert (out / name).is_file(), name
    assert result["bits"] == 3
    clips = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    assert len(clips) == 31 and result["accuracy"] == sum(c["right"] for c in clips) / 31
    assert result["size_bytes"] == (out / "model.quads").stat().st_size
    log = (out / "log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,iteration,phase") and len(log) == 1 + 3
    assert [line.split(",")[2] for line in log[1:]] == ["distill", "qat", "qat"]

    wavs = sorted(fsc_tiny.glob("wavs/speakers/*/*.wav"))[:2]
    preds = load_model(out / "model.quads").predict(wavs, top=3, reject=False)
    assert len(preds) == 2 and all(p.intent == p.best for p in preds)
    probs = [p for _, p in preds[0].top]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6

    with pytest.raises(TrainingError, match="--resume"):
        Trainer(cfg, progress=False).run()


def _values(log: Path) -> list[dict]:
    """log.csv rows without the wall-clock column."""
    import csv

    with log.open() as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def _tensors(obj, prefix=""):
    """Every tensor of a nested checkpoint, by path."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}/{i}")


@pytest.mark.parametrize(
    "strategy, variant",
    [("quads", ""), ("quads", "paper"), ("quads", "no_quant_teacher"), ("distill_qat", ""),
     ("distill_ptq", "")],
)  # fmt: skip
def test_a_kill_in_mid_phase_resumes_to_the_same_checkpoint_and_log(
    whispers, fsc_tiny, tmp_path, monkeypatch, strategy, variant
):
    """Killed in the second epoch of a phase, with phases before it whose Adam moments the
    next phases take up: the resumed run ends with the same checkpoint.pt tensors (model,
    optimizer, moments, codebooks) and the same logged values as an unbroken run."""
    from quads.train.baselines import VARIANTS

    def cfg(out):
        c = tiny_config(
            whispers, fsc_tiny, tmp_path / out, warmup_steps=5, strategy=strategy,
            iterations=2, epochs_per_phase=2, final_quant_epochs=0, **VARIANTS[variant],
        )  # fmt: skip
        c.train.max_train_utterances = 16
        return c

    full, cut = cfg("full"), cfg("cut")
    Trainer(full, progress=False).run()
    real_epoch = Trainer.train_epoch

    def killed_at_epoch_4(self, phase, opt, epoch):  # the 2nd epoch of the 2nd phase
        if epoch == 4:
            raise KeyboardInterrupt
        return real_epoch(self, phase, opt, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", killed_at_epoch_4)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cut, progress=False).run()
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    Trainer(cut, progress=False).run(resume=True)

    a = dict(_tensors(checkpoint.load(Path(full.out_dir) / "checkpoint.pt")))
    b = dict(_tensors(checkpoint.load(Path(cut.out_dir) / "checkpoint.pt")))
    assert a.keys() == b.keys()
    assert any("/moments/" in k for k in a) == (strategy != "distill_ptq")  # one phase: none
    for k, v in a.items():
        if not k.startswith("/rng"):
            assert torch.equal(v, b[k]), k
    assert _values(Path(full.out_dir) / "log.csv") == _values(Path(cut.out_dir) / "log.csv")


def test_every_phase_after_the_first_warms_up(whispers, fsc_tiny, tmp_path):
    tr = Trainer(tiny_config(whispers, fsc_tiny, tmp_path, warmup_steps=4), progress=False)
    assert tr.phase_starts == [1, 2, 3]  # distill, quantize, final quantize
    lrs = [
        tr._lr_factor(epoch)(step, 3) for epoch, step in [(1, 0), (2, 0), (2, 2), (3, 0), (3, 2)]
    ]
    assert lrs == [1.0, 0.25, 0.75, 0.25, 0.75]


def test_layer_lr_decay_gives_lower_layers_smaller_steps():
    model = tiny_slu_model(layers=2)
    named = loop.trained_parameters(model, None)
    lr_of = {}
    for decay in (1.0, 0.5):
        t = Config().train
        t = dataclasses.replace(t, lr=1e-4, head_lr=1e-3, layer_lr_decay=decay)
        opt = loop.make_optimizer(named, t)
        lr_of[decay] = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    by_name = {n: {d: lr_of[d][id(p)] for d in lr_of} for n, p in named}
    assert {v[1.0] for n, v in by_name.items() if not n.startswith("head")} == {1e-4}
    # two layers: conv and positions at lr * 0.5^2, layer 0 at lr * 0.5, layer 1 at lr
    assert by_name["encoder.conv1.weight"][0.5] == pytest.approx(2.5e-5)
    assert by_name["encoder.layers.0.fc1.weight"][0.5] == pytest.approx(5e-5)
    assert by_name["encoder.layers.1.fc1.weight"][0.5] == pytest.approx(1e-4)
    assert by_name["encoder.layer_norm.weight"][0.5] == pytest.approx(1e-4)
    assert by_name["head.weight"][0.5] == by_name["head.weight"][1.0] == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="layer_lr_decay"):
        load_config(None, ["train.layer_lr_decay=0"])


def test_precision_choice():
    cpu = torch.device("cpu")
    assert mct.use_bf16("fp32", cpu) is False and mct.use_bf16("bf16", cpu) is True
    with pytest.raises(ValueError, match="train.precision"):
        mct.use_bf16("fp8", cpu)


def test_nan_loss_stops_with_a_clear_error(whispers, fsc_tiny, tmp_path, monkeypatch):
    cfg = tiny_config(whispers, fsc_tiny, tmp_path / "nan", quant_distill=False)
    real_loss = loop.quads_loss

    def nan_in_epoch_2(logits, labels, align, alpha, gamma, *rest):
        loss = real_loss(logits, labels, align, alpha, gamma, *rest)
        return loss * float("nan") if gamma == 0 else loss

    monkeypatch.setattr(loop, "quads_loss", nan_in_epoch_2)
    with pytest.raises(TrainingError, match="loss became nan in epoch 2"):
        Trainer(cfg, progress=False).run()
    ckpt = checkpoint.load(Path(cfg.out_dir) / "checkpoint.pt")
    assert ckpt["progress"]["epoch"] == 1  # the last good epoch is kept


def test_teacher_features_are_cached_once_per_corpus(whispers, fsc_tiny, tmp_path, monkeypatch):
    cfg = tiny_config(whispers, fsc_tiny, tmp_path / "a", cache_dir=str(tmp_path / "cache"))
    first = Trainer(cfg, progress=False).targets
    files = list((tmp_path / "cache").glob("teacher-*.npy"))
    assert len(files) == 1

    def no_teacher(*a, **k):
        raise AssertionError("teacher ran again")

    monkeypatch.setattr("quads.models.teacher.Teacher.forward", no_teacher)
    second = Trainer(cfg, progress=False).targets
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
    # (N, aligned layers, T / align_pool, teacher width)
    assert second.shape == (24, 1, 150 // 4, 48)


def test_two_process_data_parallel_keeps_ranks_in_step(whispers, fsc_tiny, tmp_path):
    """torchrun, 2 CPU processes, gloo: after an epoch on different batches every rank
    holds the same weights, and they did change."""
    import json
    import subprocess
    import sys

    worker = Path(__file__).with_name("ddp_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += [str(worker), str(fsc_tiny), *whispers, str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "ddp.json").read_text())
    assert report["world"] == 2
    assert report["moved"] > 0
    assert report["max_rank_difference"] == 0.0


def test_compare_writes_the_table_the_report_reads(whispers, fsc_tiny, tmp_path):
    from quads.report import write_report
    from quads.train.baselines import compare, paper_jobs

    cfg = tiny_config(whispers, fsc_tiny, tmp_path)
    out = tmp_path / "table"
    jobs = paper_jobs([3], [3], baselines=[("ptq", True)])
    assert jobs == [("quads", True, 3, ""), ("ptq", True, 3, "")]
    results = compare(cfg, out, jobs, progress=False)
    names = [r["name"] for r in results["rows"]]
    assert names == ["quads-3bit", "ptq-3bit"]
    ptq = results["rows"][1]
    # PTQ reuses the full-precision run's training and only clusters it.
    assert (out / "finetune" / "best.pt").is_file()
    assert ptq["size_bytes"] == (out / "ptq-3bit" / "model.quads").stat().st_size
    _, meta = load_quads(out / "ptq-3bit" / "model.quads")
    assert meta["strategy"] == "ptq" and meta["bits"] == 3
    again = compare(cfg, out, jobs, progress=False)
    assert again["rows"] == results["rows"]  # finished rows are reused, not retrained
    report = write_report(out).read_text()
    assert "quads" in report and "ptq" in report


def test_outliers_train_with_no_intent(whispers, fsc_tiny, tmp_path):
    import shutil

    from quads.data.types import OUTLIER
    from quads.synth.corpus import build_corpus

    root = tmp_path / "corpus"
    shutil.copytree(fsc_tiny, root)
    summary = build_corpus(root, "fsc", preset="tiny", seed=0, outliers=6, progress=False)
    assert (summary["made"], summary["outliers"]["utterances"]) == (6, 6)
    said = (root / "outliers" / "transcripts.csv").read_text().splitlines()
    assert said[0] == "path,speaker,transcript" and len(said) == 7
    cfg = tiny_config(whispers, root, tmp_path / "run")
    cfg.data.outliers = "outliers"
    trainer = Trainer(cfg, progress=False)
    outliers = [u for u in trainer.train_set.utterances if u.label == OUTLIER]
    assert 1 <= len(outliers) <= 6  # those within the 3 s context
    assert len(trainer.train_set.utterances) == 24 + len(outliers)
    result = trainer.run()
    assert np.isfinite(result["best_val_acc"])
    labels = load_model(result["model"]).labels
    assert labels == trainer.labels and OUTLIER not in labels


def test_outlier_exposure_pulls_outliers_towards_uniform():
    import math

    from quads.train.losses import classification_loss

    logits = torch.tensor([[4.0, 0.0, -2.0], [1.0, 0.0, 0.0]])
    labels = torch.tensor([-1, 0])  # an outlier, then a clip of intent 0
    ce = torch.nn.functional.cross_entropy(logits[1:], labels[1:])
    uniform_ce = -torch.log_softmax(logits[:1], -1).mean()
    torch.testing.assert_close(classification_loss(logits, labels, 0.5), ce + 0.5 * uniform_ce)
    torch.testing.assert_close(classification_loss(logits, labels), ce)  # weight 0: ignored
    # The outlier term is smallest (log C) at the uniform distribution.
    flat = classification_loss(torch.zeros(1, 3), torch.tensor([-1]), 1.0)
    assert math.isclose(flat.item(), math.log(3), rel_tol=1e-6) and flat < uniform_ce


def test_quads_loss_follows_the_paper_formula():
    from quads.train.losses import quads_loss

    logits = torch.tensor([[2.0, 0.0, -1.0]])
    labels = torch.tensor([0])
    ce = torch.nn.functional.cross_entropy(logits, labels)
    l1 = torch.tensor(0.7)
    # Distillation phase (gamma = 1): alpha * L1 + (1 - alpha) * CE.
    torch.testing.assert_close(quads_loss(logits, labels, l1, 0.3, 1.0), 0.3 * l1 + 0.7 * ce)
    # Quantization phase (gamma = 0): CE alone.
    torch.testing.assert_close(quads_loss(logits, labels, l1, 0.3, 0.0), ce)
    torch.testing.assert_close(quads_loss(logits, labels, None, 0.3, 1.0), ce)


def test_benchmark_shards_split_the_rows_without_sharing_a_training():
    import importlib.util

    path = Path(__file__).parents[1] / "benchmarks" / "paper_tables.py"
    spec = importlib.util.spec_from_file_location("paper_tables", path)
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    parts = [tables.shard(tables.JOBS, k, 3) for k in range(3)]
    assert sorted(sum(parts, [])) == sorted(tables.JOBS) and all(parts)
    for part in parts:  # a PTQ row trains nothing: it needs its full-precision run beside it
        strategies = {job[0] for job in part}  # (strategy, pretrained, bits[, variant])
        assert ("ptq" not in strategies) or "finetune" in strategies
        assert ("distill_ptq" not in strategies) or "distill" in strategies


def test_selection_breaks_accuracy_ties_by_validation_loss(whispers, fsc_tiny, tmp_path):
    cfg = tiny_config(whispers, fsc_tiny, tmp_path / "run", select="accuracy+loss")
    result = Trainer(cfg, progress=False).run()
    rows = [r for r in _values(Path(cfg.out_dir) / "log.csv") if r["phase"] == "qat"]
    scores = {int(r["epoch"]): (float(r["val_acc"]), -float(r["val_loss"])) for r in rows}
    assert len(scores) == 2 and all(np.isfinite(-loss) and loss < 0 for _, loss in scores.values())
    assert result["best_epoch"] == max(scores, key=scores.get)

    rule = Trainer._better  # the rule alone, on a tie in accuracy
    st = {"best_acc": 0.9, "best_loss": 0.5}
    for select, expected in (("accuracy", False), ("accuracy+loss", True)):
        holder = type("T", (), {"cfg": load_config(None, [f"train.select={select}"])})()
        assert rule(holder, {"val_acc": 0.9, "val_loss": 0.4}, st) is expected
        assert rule(holder, {"val_acc": 0.9, "val_loss": 0.6}, st) is False
        assert rule(holder, {"val_acc": 0.95, "val_loss": 9.0}, st) is True


@pytest.mark.parametrize("shift", [-2, 0, 3])
def test_a_moved_onset_moves_the_teachers_targets_with_it(shift):
    """A student whose features equal the teacher's, window for window: after the clip's
    onset moves by `shift` windows (a lead-in of other frames, or its start dropped) and the
    targets move with it, the L1 is still zero; the lead-in has no target to match."""
    from quads.train.losses import FeatureAlignment, shift_targets

    pool, n, dim = 4, 12, 8
    teacher = torch.randn(1, 1, n, dim)
    clip = teacher[:, 0, :8].repeat_interleave(pool, dim=1)  # 8 windows of speech, then padding
    if shift >= 0:
        moved = torch.cat([torch.full((1, shift * pool, dim), 5.0), clip], dim=1)
    else:
        moved = clip[:, -shift * pool :]
    frames = torch.cat([moved, torch.zeros(1, n * pool - moved.shape[1], dim)], dim=1)
    mask = torch.arange(n * pool)[None] < moved.shape[1]
    target, skip = shift_targets(teacher, [shift])
    align = FeatureAlignment(dim, dim, 1, pool)
    assert align([frames], target, mask, skip).item() == pytest.approx(0.0, abs=1e-6)
    if shift > 0:  # without the skip the lead-in would be pulled towards the speech
        assert align([frames], target, mask).item() > 1.0


def test_training_moves_onsets_and_targets_together(whispers, fsc_tiny, tmp_path, monkeypatch):
    cfg = tiny_config(whispers, fsc_tiny, tmp_path)
    cfg.data.augment = dataclasses.replace(
        cfg.data.augment, enabled=True, shift_prob=1.0, shift_seconds=(-0.16, 0.32)
    )
    tr = Trainer(cfg, progress=False)
    seen = []
    real = loop.shift_targets
    monkeypatch.setattr(loop, "shift_targets", lambda t, s: seen.append(s) or real(t, s))
    distill = Phase("distill", 1, 1)
    tr.enter(distill)
    out = tr.train_epoch(distill, tr.optimizer(distill), 1)
    assert np.isfinite(out["train_loss"])
    loader = tr._loader(tr.train_set, distill, 1)
    aug = loader.dataset.augment
    assert aug.window == 2 * 160 * cfg.model.align_pool
    shifts = sum(seen, [])
    assert len(shifts) == 24 and len(set(shifts)) > 1  # every clip, its own shift
    # the clip the student hears is longer or shorter by exactly the shift
    from quads.models.student import valid_frames

    clean = tr._loader(tr.train_set, None)
    for i in range(4):
        k = aug.onset_shift(i)
        moved, plain = loader.dataset[i][0], clean.dataset[i][0]
        grown = int(valid_frames(moved[None])) - int(valid_frames(plain[None]))
        assert abs(grown - k * aug.window // 160) <= 2
