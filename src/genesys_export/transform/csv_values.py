"""Value parsers of report CSV columns: numbers in the locale's separators, durations, booleans.

Durations (`26:03:10`, `1:02:03.5`, `1h 02m 03s`, or plain milliseconds) -> int64 ms (a
Seconds-format export stays float64 seconds: request milliseconds); numbers in the locale's
separators (en-US `1,234.5`, de-DE `1.234,5`, fr-FR `1 234,5`; a trailing `%` is dropped,
the number kept as shown). A value that does not fit its column's type raises `Unfit`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

_PERCENT = "[\\s\u00a0\u202f]?%?$"  # an optional (non-breaking) space and percent sign


_WHOLE_CLOCK = r"^\d+:[0-5]\d:[0-5]\d$"


HMS = r"^(\d+)h ?([0-5]?\d)m ?([0-5]?\d)s$"  # durationFormat Hms: 1h 02m 03s


# Languages writing 1.234,5 (CLDR); their regions listed below write 1,234.5 or 1'234.5.
_COMMA_DECIMAL = frozenset({
    "de", "fr", "es", "it", "pt", "nl", "ru", "pl", "sv", "da", "nb", "nn", "no", "fi", "cs",
    "sk", "tr", "hu", "ro", "id", "uk", "el", "bg", "hr", "sl", "sr", "lt", "lv", "et", "ca",
    "eu", "gl", "vi", "is",
})  # fmt: skip


_DOT_DECIMAL_REGIONS = frozenset({"es-mx", "es-us", "de-ch", "it-ch", "de-li"})


class Unfit(Exception):
    """A value does not fit its column's type (pyarrow's casts raise ArrowInvalid instead)."""


def all_match(values: pa.Array, pattern: str) -> bool:
    """Every non-null value matches; a mismatch among the first 1000 answers early."""
    if len(values) > 1000 and not pc.all(pc.match_substring_regex(values[:1000], pattern)).as_py():
        return False
    return bool(pc.all(pc.match_substring_regex(values, pattern)).as_py())


@dataclass(frozen=True)
class Numbers:
    """A locale's decimal mark and the digit-group marks it may use."""

    decimal: str
    grouping: str

    @classmethod
    def for_locale(cls, locale: str) -> Numbers:
        tag = locale.replace("_", "-").lower()
        if tag.split("-")[0] in _COMMA_DECIMAL and tag not in _DOT_DECIMAL_REGIONS:
            return cls(",", ". \u00a0\u202f")
        return cls(".", ",' \u00a0\u202f\u2019")

    def pattern(self, *, integer: bool, marks: str | None = None) -> str:
        """A whole value in this locale; `marks` narrows the group marks (faster regex)."""
        group = self.grouping if marks is None else marks.replace("%", "")
        whole = r"0|[1-9]\d*" + (rf"|[1-9]\d{{0,2}}(?:[{group}]\d{{3}})+" if group else "")
        if integer:
            return rf"^-?(?:{whole})$"
        point = re.escape(self.decimal)
        number = rf"^-?(?:(?:{whole})(?:{point}\d+)?|{point}\d+)(?:[eE][-+]?\d+)?"
        return number + _PERCENT

    def marks_in(self, values: pa.Array) -> str:
        """The group marks and `%` that occur in `values`."""
        return "".join(
            m for m in self.grouping + "%" if pc.any(pc.match_substring(values, m)).as_py()
        )


class NumberParser:
    """One numeric column: text in the locale -> int64 or float64.

    The common case, no group marks, is one cast. Otherwise the values are first checked
    against the locale's grouping (so en-US `1,5` or de-DE `1.5` is an error, not 15), then
    the marks are removed. Which marks occur is learnt from the sample and widened on demand.
    """

    def __init__(self, numbers: Numbers, target: pa.DataType, sample: pa.Array) -> None:
        self._numbers, self._target = numbers, target
        self._marks = numbers.marks_in(sample)
        self._plain = not self._marks

    def __call__(self, values: pa.Array) -> pa.Array:
        if self._plain and self._may_be_plain(values):
            try:
                return pc.cast(self._point(values), self._target)
            except pa.ArrowInvalid:
                self._plain = False  # a failed cast costs a full pass: don't retry per block
        if not self._fits(values):
            self._marks = self._numbers.marks_in(values)
            if not self._fits(values):
                raise Unfit
        for mark in self._marks:
            values = pc.replace_substring(values, mark, "")
        return pc.cast(self._point(values), self._target)

    def _may_be_plain(self, values: pa.Array) -> bool:
        # In a comma-decimal locale a "." is a group mark: 1.5 must not pass as 1.5.
        return self._numbers.decimal == "." or not pc.any(pc.match_substring(values, ".")).as_py()

    def _point(self, values: pa.Array) -> pa.Array:
        return values if self._numbers.decimal == "." else pc.replace_substring(values, ",", ".")

    def _fits(self, values: pa.Array) -> bool:
        integer = pa.types.is_integer(self._target)
        return all_match(values, self._numbers.pattern(integer=integer, marks=self._marks))


def parse_duration(values: pa.Array, numbers: NumberParser) -> pa.Array:
    """`h:mm:ss[.fff]` (hours may pass 24), `1h 02m 03s` or plain milliseconds -> int64 ms."""
    if pc.any(pc.match_substring(values, "h")).as_py():
        values = pc.replace_substring_regex(values, HMS, r"\1:\2:\3")
    if all_match(values, _WHOLE_CLOCK):  # the usual form: arithmetic on hhmmss as a number
        hhmmss = pc.cast(pc.replace_substring(values, ":", ""), pa.int64())
        hours = pc.divide(hhmmss, 10_000)
        minutes_seconds = pc.subtract(hhmmss, pc.multiply(hours, 10_000))
        minutes = pc.divide(minutes_seconds, 100)
        seconds = pc.subtract(minutes_seconds, pc.multiply(minutes, 100))
        total = pc.add(pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60), seconds)
        return pc.multiply(total, 1000)
    if not pc.any(pc.match_substring(values, ":")).as_py():  # all milliseconds
        return pc.cast(pc.round(numbers(values)), pa.int64())
    parts = pc.split_pattern(values, ":", max_splits=2)
    clock = pc.fill_null(pc.equal(pc.list_value_length(parts), 3), False)
    n_clock = pc.sum(clock).as_py() or 0
    if n_clock == len(values):
        return _clock_ms(parts)
    plain = pc.if_else(clock, pa.scalar(None, pa.string()), values)
    ms = pc.cast(pc.round(numbers(plain)), pa.int64())
    if n_clock == 0:
        return ms
    return pc.replace_with_mask(ms, clock, _clock_ms(pc.filter(parts, clock)))


def _clock_ms(parts: pa.Array) -> pa.Array:
    """[h, mm, ss.fff] lists -> ms; a leading `-` negates."""
    hours_text = pc.list_element(parts, 0)
    hours = pc.abs(pc.cast(hours_text, pa.int64()))
    minutes = pc.cast(pc.list_element(parts, 1), pa.int64())
    seconds = pc.cast(pc.replace_substring(pc.list_element(parts, 2), ",", "."), pa.float64())
    for part in (minutes, seconds):
        low, high = pc.min_max(part).values()
        if low.is_valid and (low.as_py() < 0 or high.as_py() >= 60):
            raise Unfit
    total = pc.add(
        pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60_000),
        pc.cast(pc.round(pc.multiply(seconds, 1000)), pa.int64()),
    )
    return pc.if_else(pc.starts_with(hours_text, "-"), pc.negate(total), total)


def parse_bool(values: pa.Array) -> pa.Array:
    text = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    true = pc.is_in(text, value_set=pa.array(["true", "yes", "1"]))
    false = pc.is_in(text, value_set=pa.array(["false", "no", "0"]))
    if not pc.all(pc.or_(pc.or_(true, false), pc.is_null(values))).as_py():
        raise Unfit
    return pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), true)


def first_unfit(values: pa.Array, convert: Callable[[pa.Array], pa.Array]) -> int:
    """The first position whose value makes `convert` fail (binary search on prefixes)."""
    fits, fails = 0, len(values)
    while fails - fits > 1:
        middle = (fits + fails) // 2
        try:
            convert(values.slice(0, middle))
            fits = middle
        except (pa.ArrowInvalid, Unfit):
            fails = middle
    return fails - 1
