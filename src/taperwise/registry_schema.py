"""The registry's columns, defined once: name, type, whether a value is always known, label and meaning.

The exposure engine writes these columns in this order (CONTRACTS.md: registry); the store parses them
on publishing, the command writes their definitions into the metadata, and the pages label them, all
from this table. The store's model and the JSON API's model declare the same fields with their own
types (so mypy and the OpenAPI document see them); `tests/test_registry_schema.py` fails when any of
them drifts from this table. The project's own record of why: the columns were once typed in seven places.

Labels and definitions may name the settings in force — ``{low}`` and ``{high}`` (the high-dose
thresholds), ``{recent}`` and ``{lookback}`` (window lengths), ``{ltot}`` (the long-term definition) — so
a site with thresholds 50 and 100 reads 50 and 100 everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from taperwise.knowledge.registry import RegistrySettings

Kind = Literal["text", "int", "decimal", "bool"]


@dataclass(frozen=True)
class RegistryColumn:
    name: str
    kind: Kind
    known: bool  # always has a value (an empty cell is refused on publishing)
    label: str  # what a clinician reads on a page
    definition: str  # what the metadata says it means
    harm: bool = False  # only with --events
    added: bool = False  # added after the first contract: a registry file written before may lack it
    default: int | None = None  # what an older file that lacks an added column means by it (else unknown)

    @property
    def nullable(self) -> bool:
        """Whether the store may hold no value: unknown, or missing from an older file without a default."""
        return not self.known or (self.added and self.default is None)


REGISTRY_SCHEMA: tuple[RegistryColumn, ...] = (
    RegistryColumn("patient_id", "text", True, "Patient", "the patient's id in the input"),
    RegistryColumn(
        "avg_daily_mme_90d",
        "decimal",
        True,
        "Average MME/day ({recent} days)",
        "mme3: total MME in the recent window / its length in days; a lower bound when dose_complete "
        "is false",
    ),
    RegistryColumn(
        "max_daily_mme_90d",
        "decimal",
        True,
        "Highest MME/day ({recent} days)",
        "mme4: highest single-day total MME in the recent window; a lower bound when dose_complete is false",
    ),
    RegistryColumn(
        "days_covered_90d",
        "int",
        True,
        "Days with an opioid ({recent} days)",
        "days in the recent window with any opioid (buprenorphine for pain too)",
    ),
    RegistryColumn("ltot", "bool", True, "Long-term opioid therapy", "{ltot}"),
    RegistryColumn(
        "high_dose_50",
        "bool",
        False,
        "Average ≥ {low} MME/day",
        "avg_daily_mme_90d >= {low}; empty (unknown) when the dose is incomplete and its lower bound "
        "is below",
    ),
    RegistryColumn(
        "high_dose_90",
        "bool",
        False,
        "Average ≥ {high} MME/day",
        "avg_daily_mme_90d >= {high}; empty (unknown) when the dose is incomplete and its lower bound "
        "is below",
    ),
    RegistryColumn(
        "benzo_overlap_days_90d",
        "int",
        True,
        "Days with a benzodiazepine too ({recent} days)",
        "days in the recent window covered by an opioid and a benzodiazepine",
    ),
    RegistryColumn(
        "prescribers_180d",
        "int",
        True,
        "Prescribers ({lookback} days)",
        "distinct prescribers on opioid fills starting in the lookback window",
    ),
    RegistryColumn(
        "pharmacies_180d",
        "int",
        True,
        "Pharmacies ({lookback} days)",
        "distinct pharmacies on opioid fills starting in the lookback window",
    ),
    RegistryColumn(
        "multi_provider",
        "bool",
        True,
        "Many prescribers and pharmacies",
        "at least the settings' prescribers and pharmacies on opioid fills in the lookback window",
    ),
    RegistryColumn(
        "new_prescriber",
        "bool",
        False,
        "New prescriber (inherited patient)",
        "the prescriber of the latest fill wrote none of the fills in the lookback before it (and there were "
        "some); empty when unknown",
    ),
    RegistryColumn(
        "buprenorphine_days_90d",
        "int",
        True,
        "Days with buprenorphine ({recent} days)",
        "days in the recent window with buprenorphine supply (any form; never in MME)",
    ),
    RegistryColumn("priority", "int", True, "Priority", "rank of the first matching priority rule"),
    RegistryColumn(
        "priority_reason",
        "text",
        True,
        "Why",
        "the reason of the first matching rule; with an incomplete dose it names the gap",
    ),
    RegistryColumn(
        "problem_records_180d",
        "int",
        True,
        "Records that could not be used",
        "records of the patient the MME stage could not use (see the mme output)",
        added=True,
        default=0,
    ),
    RegistryColumn(
        "dose_complete",
        "bool",
        True,
        "Dose complete",
        "every opioid supply in the recent window has a known MME; when false the averages are lower bounds",
        added=True,
    ),
    RegistryColumn(
        "unknown_dose_days_90d",
        "int",
        True,
        "Days of unknown dose ({recent} days)",
        "days in the recent window covered by opioid supply whose MME is unknown (no factor in the set)",
        added=True,
    ),
    RegistryColumn(
        "dose_gap",
        "text",
        False,
        "Why the dose is incomplete",
        "the first reason the dose is incomplete (and how many others); empty when it is complete",
        added=True,
    ),
    RegistryColumn(
        "current_daily_mme",
        "decimal",
        True,
        "MME/day on the registry date",
        "total MME/day of the supply covering the registry date (0 when none); a lower bound when "
        "dose_complete is false",
        added=True,
    ),
    RegistryColumn(
        "restarted_after_gap",
        "bool",
        True,
        "Restarted after a gap",
        "opioid supply restarted in the recent window after {restart_gap} days or more without any, with "
        "opioid supply in the year before it (tolerance may be lost)",
        added=True,
    ),
    RegistryColumn(
        "max_includes_overlap_90d",
        "bool",
        True,
        "Highest includes overlapping fills of one product",
        "the highest MME/day of the recent window falls on days when two fills of the same product were "
        "in supply at once (an early refill, added as the published definitions add it); false when the "
        "registry carried early refills forward",
        added=True,
    ),
    RegistryColumn(
        "harm_events_180d",
        "int",
        False,
        "Harm events ({lookback} days)",
        "harm events (overdose, emergency visit, crisis, death) in the lookback window",
        harm=True,
    ),
    RegistryColumn(
        "opioid_overdose_180d",
        "int",
        False,
        "Opioid overdoses ({lookback} days)",
        "opioid overdose or poisoning events in the lookback window",
        harm=True,
    ),
    RegistryColumn(
        "last_harm_event",
        "text",
        False,
        "Last harm event",
        "the kind and date of the latest harm event",
        harm=True,
    ),
)

REGISTRY_COLUMNS = tuple(c.name for c in REGISTRY_SCHEMA if not c.harm)
FILE_COLUMNS = tuple(c.name for c in REGISTRY_SCHEMA if not c.harm and not c.added)  # every file has them
HARM_COLUMNS = tuple(c.name for c in REGISTRY_SCHEMA if c.harm)
COLUMNS_BY_NAME = {c.name: c for c in REGISTRY_SCHEMA}


def settings_values(settings: RegistrySettings) -> dict[str, object]:
    """What labels and definitions may name, from registry settings."""
    low, high = settings.high_dose_thresholds
    return {
        "low": low,
        "high": high,
        "recent": settings.recent_days,
        "lookback": settings.lookback_days,
        "ltot": settings.ltot_label,
        "prescribers": settings.min_prescribers,
        "pharmacies": settings.min_pharmacies,
        "restart_gap": settings.restart_gap_days,
    }


def metadata_values(metadata: object, settings: RegistrySettings) -> dict[str, object]:
    """The same from a published registry's metadata (the settings it was computed with), falling back
    to `settings` for anything the metadata does not say."""
    values = settings_values(settings)
    raw = metadata.get("thresholds") if isinstance(metadata, dict) else None
    if isinstance(raw, dict):
        thresholds = (
            raw.get("high_dose", {}).get("thresholds") if isinstance(raw.get("high_dose"), dict) else None
        )
        if isinstance(thresholds, list) and len(thresholds) == 2:
            values["low"], values["high"] = thresholds
        for key, name in (("recent_days", "recent"), ("lookback_days", "lookback")):
            if isinstance(raw.get(key), int):
                values[name] = raw[key]
        restart = raw.get("restart")
        if isinstance(restart, dict) and isinstance(restart.get("gap_days"), int):
            values["restart_gap"] = restart["gap_days"]
    definitions = metadata.get("definitions") if isinstance(metadata, dict) else None
    if isinstance(definitions, dict) and isinstance(definitions.get("ltot"), str):
        values["ltot"] = definitions["ltot"]
    return values


SETTING_NAMES = ("low", "high", "recent", "lookback", "prescribers", "pharmacies", "restart_gap")


def with_settings(text: str, values: dict[str, object]) -> str:
    """A programme's own text (a priority rule's reason) with the settings it names filled in:
    '{high}' becomes 90, or 120 where a site set 120. Only these names are replaced; other braces stay."""
    for name in SETTING_NAMES:
        if name in values:
            text = text.replace("{" + name + "}", str(values[name]))
    return text


def label(name: str, values: dict[str, object]) -> str:
    """The column's label with the settings in force (e.g. 'Average ≥ 90 MME/day')."""
    return COLUMNS_BY_NAME[name].label.format(**values)


def definitions(settings: RegistrySettings) -> dict[str, str]:
    """Every column's meaning with the settings in force, for the registry metadata."""
    values = settings_values(settings)
    return {c.name: c.definition.format(**values) for c in REGISTRY_SCHEMA if c.name != "patient_id"}
