"""The quantity a staff request states, exactly as written — or why it cannot be acted on.

A quantity is a whole number of units from 1 to :data:`MAX_QUANTITY` (the tools' own limit). Read:

- digits, optionally signed (``-5``, ``−5``) and followed by ``x`` (``5 x``, ``5x``). Digits inside
  SKUs, codes, dates, times and versions (``MON-27-4K``, ``AMS-1``, ``24/7``, ``v2.0``) are not
  numbers, nor are ``40%`` or ``40+``;
- thousands separators: comma, apostrophe, space, no-break or thin space, every group after the
  first exactly three digits and all separators of one kind (``1,200``, ``1 200``, ``1'200``). A dot
  groups thousands only with two or more groups (``1.200.000``): ``1.200`` may be 1200 or 1.2, so it
  is asked about. A comma or dot followed by other than three digits is a decimal mark (``1,5``,
  ``2.5``, ``1,200.50``): not a whole number. Anything else (``12,34,567``, ``2 27``) is unreadable;
- English number words: zero to nineteen, the tens, hundred, thousand, million, joined by spaces
  or hyphens with an optional "and" (``twenty-five``, ``one hundred and twenty``, ``fifteen
  hundred``, ``a thousand``), ``dozen`` (``a dozen``, ``two dozen``, ``half a dozen``); ``minus`` or
  ``negative`` before a number makes it negative; ``half`` or ``½`` makes it not whole;
- a number next to a currency (``€5,000``, ``50,000 EUR``) is an amount of money, never a quantity.

Zero, negative, fractional, too large, unreadable or ambiguous numbers, amounts, and two different
quantities (the same one written twice is fine) are an issue to put to the user, not a quantity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from tools.catalogue.inventory import MAX_QUANTITY

__all__ = ["MAX_QUANTITY", "Problem", "QuantityIssue", "read_quantity", "without_numbers"]


class Problem(StrEnum):
    OUT_OF_RANGE = "out_of_range"
    NOT_WHOLE = "not_whole"
    AMBIGUOUS = "ambiguous"
    UNREADABLE = "unreadable"
    SEVERAL = "several"
    AMOUNT = "amount"


@dataclass(frozen=True, kw_only=True)
class QuantityIssue:
    """Why the request states no quantity that can be acted on; ``written`` quotes the user."""

    problem: Problem
    written: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class _Numeral:
    """A number in the text. A ``spec`` ("32 GB") describes the item and is not a quantity; a
    ``multiplier`` ("million", "dozen") and a ``fraction`` ("and a half") join the number before them."""

    start: int
    end: int
    written: str
    value: int | None = None
    problem: Problem | None = None
    kind: Literal["number", "spec", "multiplier", "fraction"] = "number"


_SPACES = " \u00a0\u2009\u202f"
_FRACTIONS = "½¼¾⅓⅔"
_DIGITS = re.compile(
    r"(?<![\w\-/:#])(?<!\w[.,'’])"  # not inside a SKU, code, date, time, version or longer number
    r"(?P<sign>[-−–+]|(?i:minus|negative)\s+)?"
    # Atomic, so "1,20" is never read as a shorter "1"; a space group must end the number.
    rf"(?P<body>(?>[.,]?\d+(?:[.,'’]\d+|[{_SPACES}]\d+(?![\w\-/:%+]))*))"
    r"(?:\s?[x×](?!\w))?"
    rf"(?![^\W{_FRACTIONS}]|[\-/:%+])"  # "27-inch", "40%", "4K" are not quantities; "1½" is one
)
_CURRENCY_BEFORE = re.compile(r"(?:[€$£]|\b(?:eur|usd|gbp))\s?$", re.I)
_UNIT_AFTER = re.compile(r"^\s?(?:[kmgt]i?b|k?w|v|mah|[kmg]?hz|mm|cm|kg|inch(?:es)?\b|[\"″])(?!\w)", re.I)
_CURRENCY_AFTER = re.compile(r"^\s?(?:[€$£]|(?:eur|euros?|usd|gbp|dollars?|pounds?)\b)", re.I)

_SMALL = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen")  # fmt: skip
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SMALL_VALUES = {word: value for value, word in enumerate(_SMALL)}
_TENS_VALUES = {word: 10 * value for value, word in enumerate(_TENS, 2)}
_SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_WORD = r"(?:" + "|".join([*_SMALL_VALUES, *_TENS_VALUES, "hundred", *_SCALES, "dozen"]) + r")\b"
_WORDS = re.compile(
    rf"(?<!\w-)\b(?:(?:minus|negative)\s+)?"
    rf"(?:half\s+an?\s+dozen\b|(?:an?\s+(?=(?:hundred|thousand|million|billion|dozen)\b))?{_WORD}"
    rf"(?:(?:\s+and\s+|\s+|\s*-\s*){_WORD})*)(?!-\w|[.,]\d)",  # nor "twenty-first", "twelve.5"
    re.I,
)
_HALF = re.compile(rf"\bhalf\b(?!\s+an?\s+dozen\b)|[{_FRACTIONS}]", re.I)
# "no one", "the one with 32 GB", "one of": a pronoun, not a quantity.
_PRONOUN_BEFORE = re.compile(r"\b(?:no|any|every|some|the|this|that|which|each)\s+$", re.I)
_PRONOUN_AFTER = re.compile(r"^\s+(?:of|another|by)\b", re.I)


def read_quantity(text: str) -> int | QuantityIssue | None:
    """The one quantity ``text`` states, an issue with what it states, or ``None`` if it states none."""
    numerals = [n for n in _numerals(text) if n.kind != "spec"]
    if not numerals:
        return None
    amounts = [n.written for n in numerals if n.problem is Problem.AMOUNT]
    if amounts:
        return QuantityIssue(problem=Problem.AMOUNT, written=tuple(amounts))
    for numeral in numerals:
        if numeral.problem is not None:
            return QuantityIssue(problem=numeral.problem, written=(numeral.written,))
    distinct = {n.value: n.written for n in numerals}
    if len(distinct) > 1:
        return QuantityIssue(problem=Problem.SEVERAL, written=tuple(distinct.values()))
    value = numerals[0].value
    if value is None or not 1 <= value <= MAX_QUANTITY:
        return QuantityIssue(problem=Problem.OUT_OF_RANGE, written=(numerals[0].written,))
    return value


def without_numbers(text: str) -> str:
    """``text`` with every number (digits, words, amounts, specs) blanked out."""
    for numeral in reversed(_numerals(text)):
        text = text[: numeral.start] + " " + text[numeral.end :]
    return text


def _numerals(text: str) -> list[_Numeral]:
    found = [_digits(text, m) for m in _DIGITS.finditer(text)]
    found += [_words(m) for m in _WORDS.finditer(text) if not _pronoun(text, m)]
    found += [_fraction(m) for m in _HALF.finditer(text)]
    joined: list[_Numeral] = []
    for numeral in sorted(found, key=lambda n: n.start):
        if joined and _joins(joined[-1], numeral, text[joined[-1].end : numeral.start]):
            numeral = _join(joined.pop(), numeral, text)
        joined.append(numeral)
    return joined


def _joins(before: _Numeral, numeral: _Numeral, gap: str) -> bool:
    """ "two and a half", "1½", "2 million", "5 dozen" are one number each."""
    if before.kind == "spec" or before.problem is Problem.AMOUNT:
        return False
    if numeral.kind == "fraction":
        return re.fullmatch(r"\s*(?:and\s+)?(?:an?\s+)?", gap, re.I) is not None
    return numeral.kind == "multiplier" and before.kind == "number" and gap.isspace()


def _join(before: _Numeral, numeral: _Numeral, text: str) -> _Numeral:
    joined = replace(before, end=numeral.end, written=text[before.start : numeral.end])
    if numeral.kind == "fraction":
        return replace(joined, value=None, problem=Problem.NOT_WHOLE)
    if before.value is None or numeral.value is None:
        return replace(joined, value=None, problem=before.problem or numeral.problem)
    return replace(joined, value=before.value * numeral.value)


def _fraction(match: re.Match[str]) -> _Numeral:
    return _Numeral(
        start=match.start(),
        end=match.end(),
        written=match.group(0),
        problem=Problem.NOT_WHOLE,
        kind="fraction",
    )


def _pronoun(text: str, match: re.Match[str]) -> bool:
    return match.group(0).lower() == "one" and bool(
        _PRONOUN_BEFORE.search(text[: match.start()]) or _PRONOUN_AFTER.match(text[match.end() :])
    )


def _digits(text: str, match: re.Match[str]) -> _Numeral:
    start, end = match.start(), match.end()
    before = _CURRENCY_BEFORE.search(text[:start])
    after = _CURRENCY_AFTER.match(text[end:])
    if before or after:
        start = before.start() if before else start
        end = end + after.end() if after else end
        return _Numeral(start=start, end=end, written=text[start:end], problem=Problem.AMOUNT)
    written, body = text[match.start() : match.end("body")], match.group("body")
    if _UNIT_AFTER.match(text[end:]):
        # "32 GB" describes the item; in "2 27 inch" or "5 100 W" it is unclear where the count ends.
        if any(space in body for space in _SPACES):
            return _Numeral(start=start, end=end, written=written, problem=Problem.UNREADABLE)
        return _Numeral(start=start, end=end, written=written, kind="spec")
    value, problem = _read_digits(body)
    if value is not None and match.group("sign") not in (None, "+"):
        value = -value
    return _Numeral(start=start, end=end, written=written, value=value, problem=problem)


def _read_digits(body: str) -> tuple[int | None, Problem | None]:
    """The whole number ``body`` writes, or the problem with it (see the module docstring)."""
    separators = ["space" if s in _SPACES else s.replace("’", "'") for s in re.findall(r"\D", body)]
    groups = re.split(r"\D", body)
    if not separators:
        return int(body), None
    last, head, tail = separators[-1], groups[0], groups[1:]
    grouped = 1 <= len(head) <= 3 and not head.startswith("0") and all(len(g) == 3 for g in tail)
    if len(set(separators)) == 1:
        if grouped and not (last == "." and len(separators) == 1):
            return int("".join(groups)), None
        if grouped:
            return None, Problem.AMBIGUOUS
        return None, Problem.NOT_WHOLE if len(separators) == 1 and last in ".," else Problem.UNREADABLE
    # Mixed separators: a decimal mark after validly grouped thousands ("1,200.50", "1.200,5").
    thousands = separators[:-1]
    decimal = last in ".," and len(set(thousands)) == 1 and thousands[0] != last and len(tail[-1]) != 3
    if decimal and 1 <= len(head) <= 3 and not head.startswith("0") and all(len(g) == 3 for g in tail[:-1]):
        return None, Problem.NOT_WHOLE
    return None, Problem.UNREADABLE


def _words(match: re.Match[str]) -> _Numeral:
    tokens = re.findall(r"[a-z]+", match.group(0).lower())
    negative = tokens[0] in ("minus", "negative")
    value = _word_value(tokens[1:] if negative else tokens)
    return _Numeral(
        start=match.start(),
        end=match.end(),
        written=match.group(0),
        value=None if value is None else -value if negative else value,
        problem=Problem.UNREADABLE if value is None else None,
        kind="multiplier" if set(tokens) <= {"hundred", "dozen", *_SCALES} else "number",
    )


def _word_value(tokens: list[str]) -> int | None:
    """The value of number words ("one hundred and twenty"), or ``None`` if they do not make one."""
    if tokens[:3] in (["half", "a", "dozen"], ["half", "an", "dozen"]):
        return 6 if len(tokens) == 3 else None
    if "zero" in tokens:
        return 0 if tokens == ["zero"] else None
    total, group, last, biggest = 0, 0, "", 10**12
    for i, token in enumerate(tokens):
        if token in ("a", "an"):
            group, last = 1, "unit"
        elif token == "and":
            if last not in ("hundred", "scale"):
                return None
            last = "and"
        elif token in _SMALL_VALUES:
            value = _SMALL_VALUES[token]
            if last in ("unit", "teen") or (last == "tens" and value >= 10):
                return None
            group, last = group + value, "unit" if value < 10 else "teen"
        elif token in _TENS_VALUES:
            if last in ("unit", "teen", "tens"):
                return None
            group, last = group + _TENS_VALUES[token], "tens"
        elif token == "hundred":
            if group >= 100 or last == "and":
                return None
            group, last = max(group, 1) * 100, "hundred"
        elif token in _SCALES:
            scale = _SCALES[token]
            if scale >= biggest or last == "and":
                return None
            total, group, last, biggest = total + max(group, 1) * scale, 0, "scale", scale
        elif token == "dozen":
            if i != len(tokens) - 1 or last == "and":
                return None
            return max(group, 1) * 12 if not total else None
    return total + group
