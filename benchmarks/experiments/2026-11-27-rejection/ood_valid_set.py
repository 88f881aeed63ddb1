"""A validation OOD set: SLURP requests of other domains that the demo's outlier set does not
use, said by the corpus's *valid* speakers. Written to runs/exp/ood_valid (/tmp/exp/ood_valid
when it ran); run from the repository root."""

import hashlib
import random
from pathlib import Path

from quads.data import synth
from quads.data.corpus import label_space
from quads.data.synth import Clip, plan_corpus, plan_outliers, render
from quads.data.wordings import SLURP_DEVEL, read_sentences

clips = plan_corpus("fsc", preset="small", seed=0)
used = {c.text for c in plan_outliers(clips, 300, 0)}
texts = sorted(
    s.text
    for s in read_sentences(SLURP_DEVEL, label_space("slurp"))
    if s.label.split("_")[0] not in synth.OUTLIER_SKIP_SCENARIOS
    and len(s.text.split()) <= synth.OUTLIER_MAX_WORDS
    and s.text not in used
)
rng = random.Random("ood-valid")
rng.shuffle(texts)
valid = [c for c in clips if c.split == "valid"]
root = Path("runs/exp/ood_valid")
root.mkdir(parents=True, exist_ok=True)
out = []
for k, text in enumerate(texts[:120]):
    sp = rng.choice(valid).speaker
    cid = hashlib.sha1(f"{k}{text}{sp.name}".encode()).hexdigest()[:16]
    c = Clip(
        cid,
        "valid",
        sp,
        text,
        "",
        f"{cid}.wav",
        rng.uniform(0.05, 0.4),
        rng.uniform(0.05, 0.3),
        rng.uniform(0.3, 0.9),
        rng.uniform(45, 70),
    )
    render(c, root)
    out.append(c)
print(len(out), sum(c.speaker.engine == "kokoro" for c in out))
