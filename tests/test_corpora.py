import json
import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from quads.audio import AudioError, FeatureSettings
from quads.data import CorpusError, Utterance, label_space, read_corpus
from quads.data.dataset import SpeechDataset

SR = 16000
HEADER = ",path,speakerId,transcription,action,object,location\n"


def write_clip(path, seconds=0.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), SR)


def make_fsc(root, rows=None, header=HEADER, split="train"):
    """A hand-made FSC corpus; each row is (id, speaker, action, object, location)."""
    rows = rows or [
        ("a1", "s1", "activate", "lights", "kitchen"),
        ("a2", "s2", "bring", "shoes", "none"),
    ]
    lines = [header]
    for i, (uid, spk, act, obj, loc) in enumerate(rows):
        rel = f"wavs/speakers/{spk}/{uid}.wav"
        write_clip(root / rel)
        lines.append(f"{i},{rel},{spk},some words,{act},{obj},{loc}\n")
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / f"{split}_data.csv").write_text("".join(lines))
    return root / "data" / f"{split}_data.csv"


def slurp_line(files, scenario="alarm", action="set", **extra):
    rec = {"slurp_id": 1, "sentence": "wake me up", "scenario": scenario, "action": action}
    rec["intent"] = f"{scenario}_{action}"
    rec["recordings"] = [{"file": f} for f in files]
    rec.update(extra)
    return json.dumps(rec) + "\n"


def make_slurp(root, lines=None, split_file="train.jsonl"):
    lines = lines or [slurp_line(["r1.flac", "r2.flac"]), slurp_line(["r3.flac"], "qa", "maths")]
    for name in ("r1.flac", "r2.flac", "r3.flac"):
        write_clip(root / "audio" / "slurp_real" / name)
    path = root / "dataset" / "slurp" / split_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return path


# --- label spaces and the synthetic corpora -------------------------------------------


def test_label_spaces():
    fsc, slurp = label_space("fsc"), label_space("slurp")
    assert len(fsc) == 31 == len(set(fsc)) and all(label.count("|") == 2 for label in fsc)
    assert len(slurp) == 60 == len(set(slurp))
    with pytest.raises(ValueError, match="layout"):
        label_space("timit")


@pytest.mark.parametrize("layout", ["fsc", "slurp"])
def test_read_tiny_synthetic_corpus(layout, fsc_tiny, slurp_tiny):
    root = fsc_tiny if layout == "fsc" else slurp_tiny
    n_intents = len(label_space(layout))
    splits = {s: read_corpus(root, layout, s) for s in ("train", "valid", "test")}
    summary = json.loads((root / "synth.json").read_text())
    for name, corpus in splits.items():
        assert len(corpus) == summary["splits"][name]["utterances"]
        assert corpus.labels == label_space(layout) and not corpus.skipped
        assert {u.label for u in corpus.utterances} <= set(corpus.labels)
        assert all(u.split == name and u.path.is_file() and u.transcript for u in corpus.utterances)
    assert len({u.label for u in splits["train"].utterances}) == n_intents
    speakers = [c.speakers for c in splits.values()]
    assert not (speakers[0] & speakers[1] or speakers[0] & speakers[2] or speakers[1] & speakers[2])
    for u in splits["test"].utterances[:10]:
        info = sf.info(str(u.path))
        assert (info.samplerate, info.channels) == (16000, 1)


def test_slurp_devel_is_valid(slurp_tiny):
    assert len(read_corpus(slurp_tiny, "slurp", "devel")) == len(
        read_corpus(slurp_tiny, "slurp", "valid")
    )


def test_unknown_layout_and_split(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        read_corpus(tmp_path, "timit", "train")
    with pytest.raises(ValueError, match="split"):
        read_corpus(tmp_path, "fsc", "dev-clean")
    with pytest.raises(CorpusError, match="not found"):
        read_corpus(tmp_path / "nowhere", "fsc", "train")


# --- broken FSC corpora --------------------------------------------------------------


def test_fsc_reads_a_hand_made_corpus(tmp_path):
    make_fsc(tmp_path)
    corpus = read_corpus(tmp_path, "fsc", "train")
    assert [u.id for u in corpus.utterances] == ["a1", "a2"]
    u = corpus.utterances[0]
    assert u.label == "activate|lights|kitchen" and u.speaker == "s1"
    assert u.path == tmp_path / "wavs/speakers/s1/a1.wav"


def test_fsc_missing_split_file(tmp_path):
    make_fsc(tmp_path)
    with pytest.raises(CorpusError, match="valid_data.csv.*not found"):
        read_corpus(tmp_path, "fsc", "valid")


def test_fsc_missing_column(tmp_path):
    path = make_fsc(tmp_path, header=",path,speakerId,transcription,action,object\n")
    with pytest.raises(CorpusError, match=rf"{path}:1: missing column.*location"):
        read_corpus(tmp_path, "fsc", "train", skip_bad_rows=True)


def test_fsc_short_row(tmp_path):
    path = make_fsc(tmp_path)
    path.write_text(path.read_text() + "2,wavs/x.wav,s3\n")
    with pytest.raises(CorpusError, match=rf"{path}:4: expected 7 fields"):
        read_corpus(tmp_path, "fsc", "train")


def test_fsc_unknown_label(tmp_path, caplog):
    rows = [("a1", "s1", "activate", "lights", "kitchen"), ("a2", "s1", "explode", "lamp", "none")]
    path = make_fsc(tmp_path, rows)
    with pytest.raises(CorpusError, match=rf"{path}:3: unknown label 'explode\|lamp\|none'"):
        read_corpus(tmp_path, "fsc", "train")
    with caplog.at_level(logging.WARNING, logger="quads"):
        corpus = read_corpus(tmp_path, "fsc", "train", skip_bad_rows=True)
    assert len(corpus) == 1
    assert corpus.skipped == [(str(path), 3, "unknown label 'explode|lamp|none'")]
    assert "skipped 1 bad row(s) of 2" in caplog.text and str(path) in caplog.text


def test_fsc_missing_audio(tmp_path):
    path = make_fsc(tmp_path)
    (tmp_path / "wavs/speakers/s2/a2.wav").unlink()
    with pytest.raises(CorpusError, match=rf"{path}:3: audio file not found: .*a2.wav"):
        read_corpus(tmp_path, "fsc", "train")
    assert len(read_corpus(tmp_path, "fsc", "train", skip_bad_rows=True).skipped) == 1


def test_fsc_duplicate_id(tmp_path):
    rows = [("a1", "s1", "activate", "lights", "kitchen")] * 2
    path = make_fsc(tmp_path, rows)
    with pytest.raises(CorpusError, match=rf"{path}:3: duplicate utterance id 'a1'.*:2\)"):
        read_corpus(tmp_path, "fsc", "train")


def test_fsc_empty_split(tmp_path):
    path = make_fsc(tmp_path)
    path.write_text(HEADER)
    with pytest.raises(CorpusError, match=rf"{path}: no usable utterances"):
        read_corpus(tmp_path, "fsc", "train", skip_bad_rows=True)


def test_fsc_all_rows_bad_is_an_error_even_when_skipping(tmp_path):
    make_fsc(tmp_path, [("a1", "s1", "explode", "lamp", "none")])
    with pytest.raises(CorpusError, match="no usable utterances.*1 bad rows skipped"):
        read_corpus(tmp_path, "fsc", "train", skip_bad_rows=True)


# --- broken SLURP corpora ------------------------------------------------------------


def test_slurp_reads_a_hand_made_corpus(tmp_path):
    make_slurp(tmp_path)
    corpus = read_corpus(tmp_path, "slurp", "train")
    assert [u.id for u in corpus.utterances] == ["r1", "r2", "r3"]
    assert [u.label for u in corpus.utterances] == ["alarm_set", "alarm_set", "qa_maths"]
    assert corpus.utterances[0].speaker == "unknown"  # real SLURP lines name no speaker


def test_slurp_bad_json(tmp_path):
    path = make_slurp(tmp_path, [slurp_line(["r1.flac"]), "{not json\n"])
    with pytest.raises(CorpusError, match=rf"{path}:2: not valid JSON"):
        read_corpus(tmp_path, "slurp", "train")
    corpus = read_corpus(tmp_path, "slurp", "train", skip_bad_rows=True)
    assert len(corpus) == 1 and corpus.skipped[0][1] == 2


def test_slurp_missing_key_unknown_label_missing_audio_duplicate(tmp_path):
    lines = [
        slurp_line(["r1.flac"]),
        json.dumps({"scenario": "alarm", "sentence": "x", "recordings": []}) + "\n",
        slurp_line(["r2.flac"], "alarm", "explode"),
        slurp_line(["gone.flac"]),
        slurp_line(["r1.flac"]),
    ]
    path = make_slurp(tmp_path, lines)
    with pytest.raises(CorpusError, match=rf"{path}:2: missing key\(s\) \['action'\]"):
        read_corpus(tmp_path, "slurp", "train")
    corpus = read_corpus(tmp_path, "slurp", "train", skip_bad_rows=True)
    assert [u.id for u in corpus.utterances] == ["r1"]
    reasons = [reason for _, _, reason in corpus.skipped]
    assert [line for _, line, _ in corpus.skipped] == [2, 3, 4, 5]
    assert "unknown label 'alarm_explode'" in reasons[1]
    assert "audio file not found" in reasons[2] and "duplicate utterance id 'r1'" in reasons[3]


def test_slurp_empty_split(tmp_path):
    path = make_slurp(tmp_path, ["\n"], split_file="test.jsonl")
    with pytest.raises(CorpusError, match=rf"{path}: no usable utterances"):
        read_corpus(tmp_path, "slurp", "test")


def test_slurp_synthetic_train_is_optional(tmp_path):
    make_slurp(tmp_path)
    write_clip(tmp_path / "audio" / "slurp_synth" / "s1.flac")
    synth = tmp_path / "dataset" / "slurp" / "train_synthetic.jsonl"
    synth.write_text(slurp_line(["s1.flac"]))
    assert len(read_corpus(tmp_path, "slurp", "train")) == 3
    both = read_corpus(tmp_path, "slurp", "train", include_synthetic=True)
    assert len(both) == 4 and both.utterances[-1].path.parent.name == "slurp_synth"


# --- the training dataset ------------------------------------------------------------


def test_speech_dataset_items(fsc_tiny):
    corpus = read_corpus(fsc_tiny, "fsc", "valid")
    settings = FeatureSettings(n_mels=80, context_seconds=4.0)
    ds = SpeechDataset(corpus.utterances, corpus.labels, settings)
    mel, label, index = ds[3]
    assert mel.shape == (80, 400) and mel.dtype == torch.float32
    assert corpus.labels[label] == corpus.utterances[3].label and index == 3
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch[0].shape == (4, 80, 400) and batch[1].dtype == torch.int64


def test_speech_dataset_cache_returns_the_same_mel(fsc_tiny):
    corpus = read_corpus(fsc_tiny, "fsc", "valid")
    ds = SpeechDataset(corpus.utterances[:2], corpus.labels, FeatureSettings(), cache=True)
    first = ds[0][0]
    assert ds[0][0] is first
    plain = SpeechDataset(corpus.utterances[:2], corpus.labels, FeatureSettings())
    torch.testing.assert_close(plain[0][0], first)


def test_speech_dataset_unknown_label(tmp_path):
    write_clip(tmp_path / "x.wav")
    utt = Utterance("x1", tmp_path / "x.wav", "bring|cake|none", "s", "bring cake", "train")
    with pytest.raises(CorpusError, match="'x1'.*bring\\|cake\\|none"):
        SpeechDataset([utt], label_space("fsc"), FeatureSettings())


def test_speech_dataset_too_long(tmp_path, caplog):
    write_clip(tmp_path / "long.wav", seconds=1.5)
    utt = Utterance("x1", tmp_path / "long.wav", "bring|shoes|none", "s", "shoes", "train")
    with pytest.raises(AudioError, match="1 of 1 clips.*long.wav"):
        SpeechDataset(
            [utt], label_space("fsc"), FeatureSettings(context_seconds=1.0, too_long="error")
        )
    with caplog.at_level(logging.WARNING, logger="quads"):
        ds = SpeechDataset([utt], label_space("fsc"), FeatureSettings(context_seconds=1.0))
    assert "truncated" in caplog.text and ds[0][0].shape == (80, 100)
