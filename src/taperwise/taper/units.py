"""Whole units of real strengths: which doses can be given, and with the fewest tablets or patches.

A dose is achievable when it is a sum of whole units of the available strengths; tablets are never cut
(extended-release tablets must not be, and keeping immediate-release tablets whole too keeps the calendar
simple). Among the combinations with the fewest units, the one using the larger strengths is chosen, so
75 mg from 15/30/60 mg tablets is 60 + 15, as the VA examples write it.

A *simple* dose is one made of at most `max_strengths` strengths and `max_units` units (rules.json
`simple_regimens`): the plan only steps to simple doses, while a dose the patient already takes is kept as
it is even when it is not simple. A liquid (one measure, any number of measures) has no such limit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal

from taperwise.taper.jsonvalues import plain


@dataclass(frozen=True)
class UnitCount:
    """`count` units of one strength, as given at one administration."""

    strength: Decimal
    count: int


Units = tuple[UnitCount, ...]


class StrengthSet:
    """The available strengths of one product, and the doses they can make up to `ceiling`."""

    def __init__(
        self,
        strengths: tuple[Decimal, ...],
        ceiling: Decimal,
        *,
        max_units: int | None = None,
        max_strengths: int | None = None,
    ) -> None:
        if not strengths or any(s <= 0 for s in strengths):
            raise ValueError("strengths must be positive")
        self.strengths = tuple(sorted(set(strengths)))
        places = max(max(-s.normalize().as_tuple().exponent, 0) for s in self.strengths)  # type: ignore[operator]
        self._scale = Decimal(10) ** places
        self._ints = tuple(int(s * self._scale) for s in self.strengths)
        self._limit = int(ceiling * self._scale)
        self.max_units = max_units
        self.max_strengths = max_strengths
        self._fewest, self._last = self._table()
        self._simple = self._simple_table() if max_units is not None else None
        self._kept: dict[int, tuple[int, ...]] = {}  # doses the patient takes now, as they take them

    @property
    def smallest(self) -> Decimal:
        return self.strengths[0]

    def _table(self) -> tuple[list[int | None], list[int]]:
        """Fewest units for every scaled amount up to the limit, remembering the largest strength used."""
        fewest: list[int | None] = [0] + [None] * self._limit
        last = [0] * (self._limit + 1)
        for amount in range(1, self._limit + 1):
            for unit in sorted(self._ints, reverse=True):
                before = fewest[amount - unit] if amount >= unit else None
                if before is not None and (fewest[amount] is None or before + 1 < fewest[amount]):  # type: ignore[operator]
                    fewest[amount] = before + 1
                    last[amount] = unit
        return fewest, last

    def _simple_table(self) -> dict[int, tuple[int, ...]]:
        """Every simple amount with its best units (scaled strengths, largest first): the fewest units,
        then the larger strengths."""
        units = self.max_units or 1
        distinct = min(self.max_strengths or len(self._ints), len(self._ints))
        best: dict[int, tuple[int, ...]] = {}
        for count in range(1, distinct + 1):
            for chosen in itertools.combinations(sorted(self._ints, reverse=True), count):
                for total in range(count, units + 1):
                    for cuts in itertools.combinations(range(1, total), count - 1):
                        sizes = [b - a for a, b in zip((0, *cuts), (*cuts, total), strict=True)]
                        picked = tuple(s for s, n in zip(chosen, sizes, strict=True) for _ in range(n))
                        amount = sum(picked)
                        if amount > self._limit:
                            continue
                        held = best.get(amount)
                        if held is None or _better(picked, held):
                            best[amount] = picked
        return best

    def _scaled(self, dose: Decimal) -> int | None:
        scaled = dose * self._scale
        if scaled != scaled.to_integral_value() or not 0 <= scaled <= self._limit:
            return None
        return int(scaled)

    def achievable(self, dose: Decimal) -> bool:
        """Whether whole units make `dose` at all (a dose the patient takes need not be simple)."""
        scaled = self._scaled(dose)
        return scaled is not None and self._fewest[scaled] is not None

    def is_simple(self, dose: Decimal) -> bool:
        scaled = self._scaled(dose)
        return scaled is not None and (self._simple is None or scaled in self._simple)

    def keep(self, dose: Decimal, strength: Decimal) -> bool:
        """Make `dose` of whole units of `strength` wherever it is given (the patient's own tablets: two
        co-codamol 15/500, not one 30/500); False, and nothing kept, when it is not a whole number of them."""
        scaled, unit = self._scaled(dose), self._scaled(strength)
        if scaled is None or not unit or unit not in self._ints or scaled % unit:
            return False
        self._kept[scaled] = (unit,) * (scaled // unit)
        return True

    def units(self, dose: Decimal) -> Units:
        """The units making `dose`, largest strength first: as the patient takes it now when it is a dose
        they take, else its simple form when it has one, else the fewest units; raises ValueError if whole
        units cannot make it."""
        scaled = self._scaled(dose)
        if scaled is None or self._fewest[scaled] is None:
            raise ValueError(f"{dose} cannot be made from whole units of {self.describe()}")
        if scaled in self._kept:
            return self._counted(self._kept[scaled])
        if self._simple is not None and scaled in self._simple:
            return self._counted(self._simple[scaled])
        picked = []
        while scaled > 0:
            picked.append(self._last[scaled])
            scaled -= self._last[scaled]
        return self._counted(tuple(picked))

    def _counted(self, picked: tuple[int, ...]) -> Units:
        counts: dict[int, int] = {}
        for unit in picked:
            counts[unit] = counts.get(unit, 0) + 1
        return tuple(
            UnitCount(Decimal(unit) / self._scale, count)
            for unit, count in sorted(counts.items(), reverse=True)
        )

    def next_lower(
        self, dose: Decimal, min_reduction: Decimal, *, max_units: int | None = None, simple: bool = True
    ) -> Decimal | None:
        """The largest dose at least `min_reduction` below `dose`, not below the smallest unit: a simple
        one (unless `simple` is False) made of at most `max_units` units when that is given."""
        top = self._scaled(dose)
        if top is None:
            return None
        gap = int((min_reduction * self._scale).to_integral_value(rounding="ROUND_CEILING"))
        floor = self._ints[0]
        for amount in range(top - max(gap, 1), floor - 1, -1):
            if self._fits(amount, max_units, simple):
                return Decimal(amount) / self._scale
        return None

    def _fits(self, amount: int, max_units: int | None, simple: bool) -> bool:
        if amount in self._kept:
            return max_units is None or len(self._kept[amount]) <= max_units
        if simple and self._simple is not None:
            picked = self._simple.get(amount)
            return picked is not None and (max_units is None or len(picked) <= max_units)
        fewest = self._fewest[amount]
        return fewest is not None and (max_units is None or fewest <= max_units)

    def unit_count(self, dose: Decimal) -> int:
        return sum(u.count for u in self.units(dose))

    def describe(self) -> str:
        return ", ".join(plain(s) for s in self.strengths)


def _better(picked: tuple[int, ...], held: tuple[int, ...]) -> bool:
    """Fewer units first; then the larger strengths (compared largest first)."""
    if len(picked) != len(held):
        return len(picked) < len(held)
    return picked > held
