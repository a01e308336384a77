"""The exposure engine's choices that the command line offers before any engine is loaded.

Kept free of Ibis, DuckDB and Arrow so that `taperwise --help` and the option defaults cost nothing;
`taperwise.exposure.engine` and `taperwise.exposure.refills` use them and say what they mean.
"""

from __future__ import annotations

from typing import Literal

from taperwise.errors import UnusableInputError

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = ("duckdb", "spark")

EarlyRefills = Literal["add", "carry-forward"]
EARLY_REFILL_RULES: dict[str, str] = {
    "add": "fills of one product that overlap are added on the days they overlap, as the published "
    "definitions mme1-mme4 add concurrent prescriptions (an early refill shows as a higher dose)",
    "carry-forward": "a fill that starts before the previous fill of the same product ends is counted "
    "from the day after that fill ends (early-refill carry-forward); the prescriptions' own rows keep "
    "their dates",
}
DEFAULT_EARLY_REFILLS: EarlyRefills = "add"


def check_early_refills(rule: str) -> EarlyRefills:
    """The rule named `rule`, or an error naming the rules there are."""
    if rule == "add":
        return "add"
    if rule == "carry-forward":
        return "carry-forward"
    raise UnusableInputError(
        f"early-refill rule {rule!r} is not known; choose one of {', '.join(EARLY_REFILL_RULES)}"
    )
