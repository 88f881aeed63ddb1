"""Grammars of commands: each intent's expressions, with choices, optional words and slots.

One expression syntax serves our intents YAML (`intents.py`) and Picovoice Rhino contexts
(`context: {expressions: ..., slots: ...}`, as in the coffee-maker benchmark):

    [a, b, c]      one of the phrases a, b, c (each may hold the other forms)
    (word)         optional: said or not
    $type:name     a labelled slot `name` (the model predicts it) whose value is one of
                   slots[type]; `$name` when the type has the slot's name
    {name}         a filler (our YAML): a value of slots[name] that only varies the wording

`Grammar.count` gives the number of wordings an expression has (exactly: every choice,
optional and slot value multiplies it), `Grammar.expand` lists them, and `Sampler` draws
wordings that cover a grammar evenly: every expression of an intent and every slot value in
turn, from shuffled decks.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

SLOT = re.compile(r"\$([A-Za-z_][\w]*)(?::([A-Za-z_][\w]*))?")
FILLER = re.compile(r"\{([A-Za-z_][\w]*)\}")


class GrammarError(ValueError):
    """A grammar that cannot be used; the message names the file and the expression."""


@dataclass(frozen=True)
class Slot:
    type: str  # the value list it draws from
    name: str  # the slot the model predicts (a filler: not predicted)
    labelled: bool = True


@dataclass(frozen=True)
class Choice:
    options: tuple[tuple, ...]  # each option a sequence of tokens


@dataclass(frozen=True)
class Optional:
    tokens: tuple


Token = str | Slot | Choice | Optional


@dataclass(frozen=True)
class Expression:
    text: str  # as written
    tokens: tuple

    @property
    def slots(self) -> set[str]:
        """The labelled slots it may say."""
        return {t.name for t in walk(self.tokens) if isinstance(t, Slot) and t.labelled}


def walk(tokens: tuple) -> Iterator[Token]:
    for t in tokens:
        yield t
        if isinstance(t, Choice):
            for option in t.options:
                yield from walk(option)
        elif isinstance(t, Optional):
            yield from walk(t.tokens)


def parse_expression(text: str, where: str = "") -> Expression:
    """Parse one expression (see the module docstring); GrammarError names `where`."""
    pos = 0

    def fail(why: str) -> GrammarError:
        return GrammarError(f"{where}: {why} in {text!r} (at character {pos + 1})")

    def sequence(stop: str) -> tuple:
        nonlocal pos
        tokens: list[Token] = []
        word = []

        def flush() -> None:
            tokens.extend("".join(word).split())
            word.clear()

        while pos < len(text):
            c = text[pos]
            if c in stop:
                break
            if c == "[":
                flush()
                pos += 1
                options = [sequence(",]")]
                while pos < len(text) and text[pos] == ",":
                    pos += 1
                    options.append(sequence(",]"))
                if pos >= len(text) or text[pos] != "]":
                    raise fail("'[' without ']'")
                pos += 1
                if any(not o for o in options):
                    raise fail("an empty choice")
                tokens.append(Choice(tuple(options)))
            elif c == "(":
                flush()
                pos += 1
                inner = sequence(")")
                if pos >= len(text) or text[pos] != ")":
                    raise fail("'(' without ')'")
                pos += 1
                if not inner:
                    raise fail("an empty '()'")
                tokens.append(Optional(inner))
            elif c == "$":
                flush()
                m = SLOT.match(text, pos)
                if not m:
                    raise fail("'$' not followed by a slot name")
                kind, name = m.group(1), m.group(2) or m.group(1)
                tokens.append(Slot(kind, name))
                pos = m.end()
            elif c == "{":
                flush()
                m = FILLER.match(text, pos)
                if not m:
                    raise fail("'{' not followed by a name and '}'")
                tokens.append(Slot(m.group(1), m.group(1), labelled=False))
                pos = m.end()
            elif c in "])},":
                raise fail(f"an unexpected {c!r}")
            else:
                word.append(c)
                pos += 1
        flush()
        return tuple(tokens)

    tokens = sequence("")
    if pos != len(text):
        raise fail("an unexpected character")
    if not tokens:
        raise GrammarError(f"{where}: an empty expression")
    return Expression(text, tokens)


@dataclass(frozen=True)
class Grammar:
    """Intents with their expressions, and the value lists slots draw from."""

    intents: dict[str, tuple[Expression, ...]]
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def check(self, where: str) -> None:
        """Every slot's type has values; a labelled slot's name keeps one type."""
        types: dict[str, str] = {}
        for intent, expressions in self.intents.items():
            for e in expressions:
                for t in walk(e.tokens):
                    if not isinstance(t, Slot):
                        continue
                    if t.type not in self.values:
                        raise GrammarError(
                            f"{where}: intents.{intent}: {e.text!r} uses slot type {t.type!r}, "
                            f"which has no values (slots: {sorted(self.values)})"
                        )
                    if t.labelled and types.setdefault(t.name, t.type) != t.type:
                        raise GrammarError(
                            f"{where}: slot {t.name!r} draws from both {types[t.name]!r} and "
                            f"{t.type!r}; give each slot one type"
                        )

    @property
    def slots(self) -> dict[str, tuple[str, ...]]:
        """The labelled slots (what a model predicts) with their values, by name."""
        out = {}
        for expressions in self.intents.values():
            for e in expressions:
                for t in walk(e.tokens):
                    if isinstance(t, Slot) and t.labelled:
                        out[t.name] = self.values[t.type]
        return dict(sorted(out.items()))

    def count(self, tokens: tuple) -> int:
        """How many wordings a token sequence has (choices, optionals and slot values)."""
        total = 1
        for t in tokens:
            if isinstance(t, Choice):
                total *= sum(self.count(o) for o in t.options)
            elif isinstance(t, Optional):
                total *= self.count(t.tokens) + 1
            elif isinstance(t, Slot):
                total *= len(self.values[t.type])
        return total

    def expand(self, tokens: tuple) -> Iterator[tuple[str, dict[str, str]]]:
        """Every wording of a token sequence, with the labelled slots it says."""
        for parts in itertools.product(*(self._alternatives(t) for t in tokens)):
            words, slots = [], {}
            for text, said in parts:
                words.append(text)
                slots.update(said)
            yield " ".join(w for w in words if w), slots

    def _alternatives(self, t: Token) -> list[tuple[str, dict[str, str]]]:
        if isinstance(t, str):
            return [(t, {})]
        if isinstance(t, Slot):
            return [(v, {t.name: v} if t.labelled else {}) for v in self.values[t.type]]
        if isinstance(t, Optional):
            return [("", {})] + list(self.expand(t.tokens))
        return [w for option in t.options for w in self.expand(option)]

    @property
    def size(self) -> int:
        """Wordings in the whole grammar (an upper bound: two expressions may share one)."""
        return sum(self.count(e.tokens) for es in self.intents.values() for e in es)


class Sampler:
    """Wordings that cover a grammar evenly: each intent's expressions and each slot type's
    values come from shuffled decks (all of them before any repeats), choices and optional
    words at random."""

    def __init__(self, grammar: Grammar, rng: random.Random) -> None:
        self.grammar, self.rng = grammar, rng
        self._decks: dict[object, list] = {}

    def _draw(self, key: object, items: tuple) -> object:
        deck = self._decks.get(key)
        if not deck:
            deck = self._decks[key] = list(items)
            self.rng.shuffle(deck)
        return deck.pop()

    def expression(self, intent: str) -> Expression:
        """The next expression of `intent` (each in turn, in a shuffled order)."""
        return self._draw(("intent", intent), self.grammar.intents[intent])

    def say(self, intent: str) -> tuple[str, dict[str, str]]:
        """One wording of `intent` and the labelled slots it says."""
        return self.fill(self.expression(intent))

    def fill(self, expression: Expression) -> tuple[str, dict[str, str]]:
        """One wording of `expression` and the labelled slots it says."""
        words: list[str] = []
        slots: dict[str, str] = {}
        self._fill(expression.tokens, words, slots)
        return " ".join(words), slots

    def _fill(self, tokens: tuple, words: list[str], slots: dict[str, str]) -> None:
        for t in tokens:
            if isinstance(t, str):
                words.append(t)
            elif isinstance(t, Slot):
                value = self._draw(("slot", t.type), self.grammar.values[t.type])
                words.append(value)
                if t.labelled:
                    slots[t.name] = value
            elif isinstance(t, Optional):
                if self.rng.random() < 0.5:
                    self._fill(t.tokens, words, slots)
            else:
                weights = [math.log1p(self.grammar.count(o)) + 1 for o in t.options]
                self._fill(self.rng.choices(t.options, weights)[0], words, slots)


def rhino_grammar(data: dict, where: str) -> Grammar:
    """A Picovoice Rhino context (`context: {expressions: {intent: [...]}, slots: {...}}`)."""
    context = data.get("context")
    if not isinstance(context, dict) or not isinstance(context.get("expressions"), dict):
        raise GrammarError(f"{where}: a Rhino context needs context.expressions")
    values = {}
    for kind, items in (context.get("slots") or {}).items():
        if not isinstance(items, list) or not items:
            raise GrammarError(f"{where}: context.slots.{kind} must list its values")
        values[str(kind)] = tuple(" ".join(str(v).split()) for v in items)
    intents = {}
    for intent, expressions in context["expressions"].items():
        if not isinstance(expressions, list) or not expressions:
            raise GrammarError(f"{where}: context.expressions.{intent} must list expressions")
        intents[str(intent)] = tuple(
            parse_expression(str(e), f"{where}: context.expressions.{intent}[{i}]")
            for i, e in enumerate(expressions)
        )
    grammar = Grammar(intents, values)
    grammar.check(where)
    return grammar
