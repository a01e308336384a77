"""Product text -> a flat list of recognised items (numbers, units, known terms, separators).

The scanner is one regular expression of independent alternatives (digits, letters, any other single
character), so its run time is linear in the input: hostile text cannot cause catastrophic
backtracking. Everything after it walks the item list once, with a look-ahead bounded by the longest
vocabulary phrase.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from taperwise.errors import TaperwiseError
from taperwise.knowledge.vocabulary import UNIT_WORDS, Term, Vocabulary

MAX_CHARS = 500  # the longest RxNorm names are about 200 characters; anything far longer is not a product
_MAX_INTEGER_DIGITS = 7
_MAX_DECIMAL_DIGITS = 6
_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)?|[a-z]+|\S")
_IGNORED = frozenset(",;:()[]{}.+&'\"")


class ProductTextError(TaperwiseError):
    """A product text cannot be read. Never escapes `parse_product`: its message becomes the reason."""


class ItemKind(StrEnum):
    NUMBER = "number"
    UNIT = "unit"
    TERM = "term"
    SLASH = "slash"
    DASH = "dash"
    WORD = "word"  # a word in no vocabulary file


@dataclass(frozen=True)
class Item:
    kind: ItemKind
    raw: str
    number: Decimal | None = None
    unit: str | None = None  # canonical unit word: mg, mcg, g, ml, hr, day, unit, %
    term: Term | None = None


def clean_text(text: str) -> str:
    """Unicode-normalised, lower-case text with control characters turned into spaces."""
    if not isinstance(text, str):
        raise ProductTextError(f"product text must be a string, not {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ProductTextError(f"product text is {len(text)} characters long; the limit is {MAX_CHARS}")
    normal = unicodedata.normalize("NFKC", text)
    # NFKC turns the micro sign into Greek mu; both mean micro in "µg".
    normal = normal.replace("\u03bc", "mc")
    normal = "".join(" " if unicodedata.category(char).startswith("C") else char for char in normal)
    if not normal.strip():
        raise ProductTextError("empty product text")
    return normal.lower()


def _number(token: str) -> Decimal:
    whole, _, fraction = token.partition(".")
    if len(whole.lstrip("0")) > _MAX_INTEGER_DIGITS or len(fraction) > _MAX_DECIMAL_DIGITS:
        raise ProductTextError(f"number '{token}' is not a plausible strength")
    return Decimal(token)


def _is_word(token: str) -> bool:
    return token.isascii() and token.isalpha()


def _tokens(text: str) -> list[str]:
    raw = _TOKEN.findall(text)
    kept: list[str] = []
    for index, token in enumerate(raw):
        # A hyphen inside a phrase ("co-codamol", "modified-release") joins words; between numbers
        # ("10-325") it separates the strengths of a combination, so it is kept there.
        if (
            token == "-"
            and 0 < index < len(raw) - 1
            and _is_word(raw[index - 1])
            and _is_word(raw[index + 1])
        ):
            continue
        kept.append(token)
    return kept


def read_items(text: str, vocabulary: Vocabulary) -> list[Item]:
    """Items of a cleaned product text; raises ProductTextError on characters that have no meaning."""
    tokens = _tokens(text)
    items: list[Item] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token[0] in "0123456789":
            items.append(Item(ItemKind.NUMBER, token, number=_number(token)))
            index += 1
        elif _is_word(token):
            run_end = index
            while run_end < len(tokens) and _is_word(tokens[run_end]):
                run_end += 1
            items.extend(_read_words(tokens[index:run_end], vocabulary))
            index = run_end
        else:
            items.extend(_read_symbol(token))
            index += 1
    return items


def _read_words(words: list[str], vocabulary: Vocabulary) -> list[Item]:
    items: list[Item] = []
    position = 0
    while position < len(words):
        hit = vocabulary.match(words, position)
        if hit is not None:
            term, length = hit
            items.append(Item(ItemKind.TERM, " ".join(words[position : position + length]), term=term))
            position += length
            continue
        word = words[position]
        if word in UNIT_WORDS:
            items.append(Item(ItemKind.UNIT, word, unit=UNIT_WORDS[word]))
        else:
            items.append(Item(ItemKind.WORD, word))
        position += 1
    return items


def _read_symbol(token: str) -> list[Item]:
    if token == "/":
        return [Item(ItemKind.SLASH, token)]
    if token == "-":
        return [Item(ItemKind.DASH, token)]
    if token == "%":
        return [Item(ItemKind.UNIT, token, unit="%")]
    if token in _IGNORED:
        return []
    raise ProductTextError(f"unexpected character {token!r}")
