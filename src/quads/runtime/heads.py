"""The heads of a model: one intent head and one head per slot, side by side in one logits row.

    logits = [ intent_1 .. intent_I | slot_1: absent, value_1 .. value_n | slot_2: ... ]

Each slot head classifies over its values plus "absent" (index 0 of its segment), on the same
pooled features as the intent head, so all heads together are one Linear layer: export,
ONNX, quantization and packing only see a wider head. A model without slots has the intent
segment alone. Works on numpy arrays and torch tensors alike (slicing the last axis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# How the student averages its frames before the heads (models/student.py): over the speech
# frames, by one learned weighting, or by one weighting per head.
POOLINGS = ("mean", "attention", "heads")


@dataclass(frozen=True)
class Heads:
    labels: tuple[str, ...]
    slots: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (slot name, its values), in order

    @classmethod
    def of(cls, labels: Sequence[str], slots: Mapping[str, Sequence[str]] | None = None) -> Heads:
        """From intent labels and {slot name: values} (slot names in sorted order)."""
        slots = slots or {}
        return cls(tuple(labels), tuple((name, tuple(slots[name])) for name in sorted(slots)))

    @property
    def slot_names(self) -> list[str]:
        return [name for name, _ in self.slots]

    @property
    def sizes(self) -> list[int]:
        """Each head's width: the intents, then each slot's values + "absent"."""
        return [len(self.labels)] + [len(values) + 1 for _, values in self.slots]

    @property
    def width(self) -> int:
        return sum(self.sizes)

    def split(self, logits):
        """(..., width) -> one (..., size) slice per head: the intents first, then each slot."""
        out, start = [], 0
        for size in self.sizes:
            out.append(logits[..., start : start + size])
            start += size
        return out

    def targets(self, label: int, slots: Mapping[str, str]) -> list[int]:
        """One utterance's targets: its intent index (-1: an outlier, no intent), then each
        slot's value index + 1 (0: absent; -1 for an outlier: no slot to get right).
        Heads without slots take the intent alone; a KeyError names a slot or value outside
        the model's."""
        if not self.slots:
            return [label]
        if label < 0:
            return [label] + [-1] * len(self.slots)
        unknown = set(slots) - set(self.slot_names)
        if unknown:
            raise KeyError(f"slot(s) {sorted(unknown)} not among the model's {self.slot_names}")
        out = [label]
        for name, values in self.slots:
            value = slots.get(name)
            if value is not None and value not in values:
                raise KeyError(f"slot {name} = {value!r} is not one of the model's values")
            out.append(0 if value is None else values.index(value) + 1)
        return out

    def slot_values(self, indices: Sequence[int]) -> dict[str, str]:
        """Each slot head's predicted index (0: absent) -> {slot: value} of the present ones."""
        return {name: values[i - 1] for (name, values), i in zip(self.slots, indices) if i > 0}

    def to_spec(self) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self.slots}
