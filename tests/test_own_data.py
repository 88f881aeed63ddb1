"""Your own commands: manifest and folders layouts, labels from the data, any sample rate,
automatic splits, and corpora voiced from an intents YAML."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from quads.api import load_model
from quads.audio import load_audio
from quads.cli import main
from quads.config import load_config
from quads.data.auto import pick_context, resolve_config
from quads.data.corpus import detect_layout, read_corpus
from quads.data.splits import speaker_of, split_by_speaker
from quads.data.types import CorpusError
from quads.evaluation.metrics import evaluate_predictions
from quads.quant.packing import load_quads
from quads.synth.grammar import GrammarError
from quads.synth.intents import build_intents_corpus, load_grammar
from quads.train.mct import Trainer

LABELS = ["go", "stop", "yes"]  # each a tone of its own pitch
PITCH = {"go": 300.0, "stop": 600.0, "yes": 1200.0}


def write_clip(
    path: Path, label: str, rate: int = 16000, channels: int = 1, seconds: float = 0.6
) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * PITCH.get(label, 900.0) * t).astype(np.float32)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, rate)
    return path


# Sample rates and channel counts a user's recordings come in, round-robin over the clips.
FORMATS = [(16000, 1), (8000, 2), (44100, 1), (48000, 2), (22050, 1)]


def folders_corpus(root: Path, speakers: int = 10) -> Path:
    """root/<label>/<speaker>_nohash_<n>.wav, mixed rates and channels."""
    k = 0
    for s in range(speakers):
        for label in LABELS:
            for n in range(2):
                rate, channels = FORMATS[k % len(FORMATS)]
                write_clip(root / label / f"spk{s:02d}_nohash_{n}.wav", label, rate, channels)
                k += 1
    return root


def manifest_corpus(root: Path, speakers: int = 10) -> Path:
    """train.csv / valid.csv / test.csv over clips in audio/, 8 kHz stereo and 44.1 kHz among
    them; test speakers are disjoint from training speakers."""
    split_of = {s: "train" for s in range(speakers)}
    split_of.update({speakers - 2: "valid", speakers - 1: "test"})
    rows: dict[str, list] = {"train": [], "valid": [], "test": []}
    k = 0
    for s in range(speakers):
        for label in LABELS:
            for n in range(2):
                rate, channels = FORMATS[k % len(FORMATS)]
                rel = f"audio/s{s}-{label}-{n}.wav"
                write_clip(root / rel, label, rate, channels, seconds=0.5 + 0.1 * n)
                rows[split_of[s]].append([rel, label, f"s{s}", f"say {label}"])
                k += 1
    for split, data in rows.items():
        write_csv(root / f"{split}.csv", ["path", "label", "speaker", "transcript"], data)
    return root


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def tiny_run(whispers, data: Path, out: Path, *overrides: str):
    student, teacher = whispers
    cfg = load_config(
        "commands-demo",
        [
            f"data.root={data}",
            f"out_dir={out}",
            f"model.student={student}",
            f"model.teacher={teacher}",
            "train.batch_size=8",
            "train.iterations=1",
            "train.epochs_per_phase=1",
            "train.final_quant_epochs=0",
            "train.lr=1e-3",
            "train.warmup_steps=0",
            "quant.bits=3",
            "quant.kmeans_iters=5",
            *overrides,
        ],
    )
    return resolve_config(cfg)


# --- layouts ----------------------------------------------------------------------------


def test_layouts_are_detected(tmp_path, fsc_tiny, slurp_tiny):
    assert detect_layout(fsc_tiny) == "fsc" and detect_layout(slurp_tiny) == "slurp"
    man = manifest_corpus(tmp_path / "m", speakers=4)
    assert detect_layout(man) == "manifest" and detect_layout(man / "train.csv") == "manifest"
    assert detect_layout(folders_corpus(tmp_path / "f", speakers=3)) == "folders"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="empty.*--layout"):
        detect_layout(tmp_path / "empty")


def test_folders_automatic_splits_are_speaker_disjoint_and_deterministic(tmp_path):
    root = folders_corpus(tmp_path / "a")
    (root / "_background_noise_").mkdir()
    write_clip(root / "_background_noise_" / "noise.wav", "noise")
    splits = {s: read_corpus(root, "auto", s) for s in ("train", "valid", "test")}
    assert sum(len(c) for c in splits.values()) == 10 * 3 * 2  # the noise folder is no label
    speakers = [c.speakers for c in splits.values()]
    assert all(speakers) and not (speakers[0] & speakers[1] or speakers[0] & speakers[2])
    assert not speakers[1] & speakers[2]
    assert splits["train"].labels == LABELS == splits["test"].labels
    u = splits["train"].utterances[0]
    assert u.speaker == speaker_of(u.path) and "_nohash_" not in u.speaker

    # The same speakers in another folder, written in another order: the same splits.
    other = tmp_path / "b"
    for path in sorted(root.rglob("*.wav"), reverse=True):
        write_clip(other / path.relative_to(root), path.parent.name)
    again = {s: read_corpus(other, "folders", s).speakers for s in ("train", "valid", "test")}
    assert list(again.values()) == speakers
    assert split_by_speaker(["c", "a", "b", "d"]) == split_by_speaker(["d", "b", "a", "c"])
    with pytest.raises(ValueError, match="at least 3"):
        split_by_speaker(["a", "b"])


def test_folders_with_split_folders_and_speech_commands_lists(tmp_path):
    root = tmp_path / "s"
    for split, spk in (("train", "a"), ("train", "b"), ("validation", "c"), ("test", "d")):
        for label in LABELS:
            write_clip(root / split / label / f"{spk}_nohash_0.flac", label)
    train = read_corpus(root, "auto", "train")
    assert len(train) == 6 and train.speakers == {"a", "b"}
    assert read_corpus(root, "folders", "valid").speakers == {"c"}

    sc = folders_corpus(tmp_path / "sc", speakers=4)
    (sc / "validation_list.txt").write_text("go/spk01_nohash_0.wav\n")
    (sc / "testing_list.txt").write_text("stop/spk02_nohash_1.wav\nyes/spk02_nohash_1.wav\n")
    assert [u.id for u in read_corpus(sc, "folders", "valid").utterances] == [
        "go/spk01_nohash_0.wav"
    ]
    assert len(read_corpus(sc, "folders", "test")) == 2
    assert len(read_corpus(sc, "folders", "train")) == 24 - 3


def test_manifest_one_file_with_and_without_a_split_column(tmp_path):
    root = manifest_corpus(tmp_path / "m")
    rows = []
    for split in ("train", "valid", "test"):
        with (root / f"{split}.csv").open() as f:
            rows += [[r["path"], r["label"], r["speaker"], split] for r in csv.DictReader(f)]
    one = write_csv(tmp_path / "m" / "all.csv", ["path", "label", "speaker", "split"], rows)
    per_file = {s: read_corpus(root, "manifest", s) for s in ("train", "valid", "test")}
    for s in per_file:
        assert [u.id for u in read_corpus(one, "auto", s).utterances] == [
            u.id for u in per_file[s].utterances
        ]
    assert per_file["train"].labels == LABELS

    drawn = write_csv(
        tmp_path / "m" / "drawn.csv", ["path", "label", "speaker"], [r[:3] for r in rows]
    )
    splits = {s: read_corpus(drawn, "manifest", s) for s in ("train", "valid", "test")}
    assert sum(map(len, splits.values())) == len(rows)
    assert not splits["train"].speakers & (splits["valid"].speakers | splits["test"].speakers)


def test_a_label_training_never_saw_is_a_clear_error(tmp_path):
    root = manifest_corpus(tmp_path / "m")
    with (root / "test.csv").open("a") as f:
        write_clip(root / "audio" / "new.wav", "maybe")
        f.write("audio/new.wav,maybe,s9,\n")
    with pytest.raises(CorpusError, match=r"test\.csv:8: unknown label 'maybe' \(training never"):
        read_corpus(root, "manifest", "test")
    assert len(read_corpus(root, "manifest", "test", skip_bad_rows=True)) == 6

    f = folders_corpus(tmp_path / "f", speakers=3)
    test = read_corpus(f, "folders", "test").utterances[0]
    new = write_clip(f / "maybe" / f"{test.speaker}_nohash_0.wav", "maybe")
    with pytest.raises(CorpusError, match=f"{new}: unknown label 'maybe'"):
        read_corpus(f, "folders", "test")


def test_bad_manifests_name_the_file_and_line(tmp_path):
    root = manifest_corpus(tmp_path / "m", speakers=3)
    write_csv(root / "valid.csv", ["path", "label"], [["audio/missing.wav", "go"]])
    with pytest.raises(CorpusError, match=r"valid\.csv:2: audio file not found"):
        read_corpus(root, "manifest", "valid")
    write_csv(root / "valid.csv", ["file", "intent"], [["x.wav", "go"]])
    with pytest.raises(CorpusError, match=r"valid\.csv:1: missing column"):
        read_corpus(root, "manifest", "valid")


# --- audio ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate,channels", FORMATS)
def test_any_rate_and_channel_count_loads_as_16k_mono(tmp_path, rate, channels):
    path = write_clip(tmp_path / "c.wav", "stop", rate, channels, seconds=1.0)
    audio = load_audio(path)
    assert audio.ndim == 1 and abs(audio.size - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / audio.size - PITCH["stop"]) < 3  # same pitch
    assert 0.25 < np.abs(audio[100:-100]).max() < 0.35  # same level, no aliasing ripple


def test_context_is_picked_from_the_data(tmp_path, whispers):
    assert pick_context(0.6) == 2.0 and pick_context(3.06) == 4.5 and pick_context(95) == 30.0
    root = manifest_corpus(tmp_path / "m", speakers=3)
    cfg = tiny_run(whispers, root, tmp_path / "run")
    assert cfg.audio.context_seconds == 2.0 and cfg.data.layout == "manifest"  # 0.6 s + 1 s
    cfg = tiny_run(whispers, root, tmp_path / "run", "audio.context_seconds=1.5")
    assert cfg.audio.context_seconds == 1.5


# --- training on them -----------------------------------------------------------------


@pytest.mark.parametrize("layout", ["folders", "manifest"])
def test_train_eval_predict_with_labels_from_the_data(whispers, tmp_path, capsys, layout):
    build = folders_corpus if layout == "folders" else manifest_corpus
    data = build(tmp_path / "data", speakers=5)
    cfg = tiny_run(whispers, data, tmp_path / "run")
    result = Trainer(cfg, progress=False).run()
    model_path = Path(result["model"])
    lines = (model_path.parent / "test_predictions.jsonl").read_text().splitlines()
    assert result["accuracy"] == sum(json.loads(line)["right"] for line in lines) / len(lines)
    model, meta = load_quads(model_path)
    assert model.labels == LABELS and meta["layout"] == layout

    # eval reads the labels from the file; predict answers with them.
    code = main(["eval", str(model_path), str(data), "-o", str(tmp_path / "r.json")])
    assert code == 0
    evaluated = json.loads((tmp_path / "r.json").read_text())
    assert evaluated["labels"] == LABELS and evaluated["slot_accuracy"] == {}
    test = read_corpus(data, layout, "test")
    assert evaluated["n"] == len(test)
    clip = next(u.path for u in test.utterances if sf.info(str(u.path)).samplerate != 16000)
    top = load_model(model_path).predict([clip], top=3)[0].top
    assert {label for label, _ in top} == set(LABELS)

    # Recordings kept elsewhere: a test.csv alone, with absolute paths, evaluates the model.
    only = tmp_path / "only-test"
    only.mkdir()
    write_csv(only / "test.csv", ["path", "label"], [[u.path, u.label] for u in test.utterances])
    assert main(["eval", str(model_path), str(only), "-o", str(tmp_path / "o.json")]) == 0
    assert json.loads((tmp_path / "o.json").read_text())["n"] == len(test)
    capsys.readouterr()


def test_intents_yaml_builds_a_corpus_that_trains(whispers, tmp_path):
    spec = tmp_path / "commands.yaml"
    spec.write_text(
        "slots:\n  drink: [coffee, tea]\n"
        "intents:\n"
        "  make_drink: ['make me a {drink}', 'one {drink} please']\n"
        "  stop: [stop, cancel that]\n"
        "  lights_on: [turn on the lights, lights on]\n"
        "  lights_off: [turn off the lights]\n"
        "  set_timer:\n"
        "    phrases: ['set a timer for {minutes} minutes']\n"
        "    slots: {minutes: [two, five]}\n"
    )
    summary = build_intents_corpus(spec, tmp_path / "c", preset="tiny", progress=False)
    assert summary["utterances"] == 30 and summary["layout"] == "manifest"
    splits = {s: read_corpus(tmp_path / "c", "auto", s) for s in ("train", "valid", "test")}
    names = ["lights_off", "lights_on", "make_drink", "set_timer", "stop"]
    assert all(c.labels == names for c in splits.values())
    assert not splits["train"].speakers & splits["test"].speakers
    said = {u.transcript for u in splits["train"].utterances if u.label == "make_drink"}
    assert said <= {"Make me a coffee", "Make me a tea", "One coffee please", "One tea please"}
    # Rebuilding reuses every clip.
    assert build_intents_corpus(spec, tmp_path / "c", preset="tiny", progress=False)["made"] == 0

    cfg = tiny_run(whispers, tmp_path / "c", tmp_path / "run")
    cfg.train = dataclasses.replace(cfg.train, strategy="finetune")
    result = Trainer(cfg, progress=False).run()
    assert load_quads(result["model"])[0].labels == names


def test_bad_intents_files_say_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.yaml"
    cases = {
        "intents:\n  a: ['hello {name}']\n  b: [bye]\n": r"intents\.a\[0\].*\{name\}",
        "intents:\n  a:\n    - {drink} please\n  b: [x]\n": r"bad\.yaml:3: not valid YAML.*quote",
        "intents:\n  a: [hello]\n": "2 to",
        "intents:\n  a: []\n  b: [x]\n": r"intents\.a: expected a non-empty list",
        "commands:\n  a: [x]\n": "'intents' mapping",
        "intents:\n  a: [x]\n  b: {phrases: [y], voice: z}\n": r"unknown key\(s\) \['voice'\]",
        "intents: [: bad": "not valid YAML",
    }
    for text, message in cases.items():
        bad.write_text(text)
        with pytest.raises(GrammarError, match=message) as info:
            load_grammar(bad)
        assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_synth_command_line(tmp_path, capsys):
    assert main(["synth", "--layout", "manifest", "--out", str(tmp_path / "x")]) == 1
    assert "--intents" in capsys.readouterr().err


def test_generic_layouts_have_no_slot_accuracies():
    r = evaluate_predictions(["go", "stop"], ["go", "go"], ["go", "stop"], layout="manifest")
    assert r["accuracy"] == 0.5 and r["slot_accuracy"] == {}


# --- Hugging Face datasets --------------------------------------------------------------


def test_hugging_face_dataset_saved_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    from datasets import Audio, ClassLabel, Features, Value

    features = Features(
        {
            "audio": {"bytes": Value("binary"), "path": Value("string")},
            "label": ClassLabel(names=LABELS),
            "speaker_id": Value("string"),
        }
    )

    def split(speakers: list[str], rate: int) -> datasets.Dataset:
        rows: dict[str, list] = {"audio": [], "label": [], "speaker_id": []}
        for spk in speakers:
            for i, label in enumerate(LABELS):
                clip = write_clip(tmp_path / "src" / f"{spk}-{label}.flac", label, rate)
                rows["audio"].append({"bytes": clip.read_bytes(), "path": clip.name})
                rows["label"].append(i)
                rows["speaker_id"].append(spk)
        ds = datasets.Dataset.from_dict(rows, features=features)
        return ds.cast_column("audio", Audio(decode=False))  # no torchcodec needed

    root = tmp_path / "hf"
    dd = datasets.DatasetDict(
        train=split(["a", "b"], 8000), validation=split(["c"], 44100), test=split(["d"], 16000)
    )
    dd.save_to_disk(str(root))
    assert detect_layout(root) == "hf"
    train = read_corpus(root, "auto", "train")
    assert train.labels == LABELS and len(train) == 6 and train.speakers == {"a", "b"}
    assert all(
        u.path.is_file() and sf.info(str(u.path)).samplerate == 8000 for u in train.utterances
    )
    valid = read_corpus(root, "hf", "valid")
    assert valid.speakers == {"c"} and [u.label for u in valid.utterances] == LABELS
    assert load_audio(valid.utterances[0].path).size == round(0.6 * 16000)

    one = tmp_path / "one"  # a single Dataset: splits drawn by speaker
    split([f"s{i}" for i in range(6)], 16000).save_to_disk(str(one))
    parts = [read_corpus(one, "hf", s).speakers for s in ("train", "valid", "test")]
    assert sum(map(len, parts)) == 6 and not parts[0] & (parts[1] | parts[2])
