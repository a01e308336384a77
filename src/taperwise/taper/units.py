"""Whole units of real strengths: which doses can be given, and with the fewest tablets or patches.

A dose is achievable when it is a sum of whole units of the available strengths; tablets are never cut
(extended-release tablets must not be, and keeping immediate-release tablets whole too keeps the calendar
simple). Among the combinations with the fewest units, the one using the larger strengths is chosen, so
75 mg from 15/30/60 mg tablets is 60 + 15, as the VA examples write it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from taperwise.taper.jsonvalues import plain


@dataclass(frozen=True)
class UnitCount:
    """`count` units of one strength, as given at one administration."""

    strength: Decimal
    count: int


class StrengthSet:
    """The available strengths of one product, and the doses they can make up to `ceiling`."""

    def __init__(self, strengths: tuple[Decimal, ...], ceiling: Decimal) -> None:
        if not strengths or any(s <= 0 for s in strengths):
            raise ValueError("strengths must be positive")
        self.strengths = tuple(sorted(set(strengths)))
        places = max(max(-s.normalize().as_tuple().exponent, 0) for s in self.strengths)  # type: ignore[operator]
        self._scale = Decimal(10) ** places
        self._ints = tuple(int(s * self._scale) for s in self.strengths)
        self._limit = int(ceiling * self._scale)
        self._fewest, self._last = self._table()

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

    def _scaled(self, dose: Decimal) -> int | None:
        scaled = dose * self._scale
        if scaled != scaled.to_integral_value() or not 0 <= scaled <= self._limit:
            return None
        return int(scaled)

    def achievable(self, dose: Decimal) -> bool:
        scaled = self._scaled(dose)
        return scaled is not None and self._fewest[scaled] is not None

    def units(self, dose: Decimal) -> tuple[UnitCount, ...]:
        """The fewest whole units making `dose`, largest strength first; raises ValueError if impossible."""
        scaled = self._scaled(dose)
        if scaled is None or self._fewest[scaled] is None:
            raise ValueError(f"{dose} cannot be made from whole units of {self.describe()}")
        counts: dict[int, int] = {}
        while scaled > 0:
            unit = self._last[scaled]
            counts[unit] = counts.get(unit, 0) + 1
            scaled -= unit
        return tuple(
            UnitCount(Decimal(unit) / self._scale, count)
            for unit, count in sorted(counts.items(), reverse=True)
        )

    def next_lower(self, dose: Decimal, min_reduction: Decimal) -> Decimal | None:
        """The largest achievable dose at least `min_reduction` below `dose`, not below the smallest unit."""
        top = self._scaled(dose)
        if top is None:
            return None
        gap = int((min_reduction * self._scale).to_integral_value(rounding="ROUND_CEILING"))
        floor = self._ints[0]
        for amount in range(top - max(gap, 1), floor - 1, -1):
            if self._fewest[amount] is not None:
                return Decimal(amount) / self._scale
        return None

    def describe(self) -> str:
        return ", ".join(plain(s) for s in self.strengths)
