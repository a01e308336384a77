"""Registry settings and priority rules: the thresholds of clinical-rules §3 as versioned data.

`data/registry/flags.json` holds every threshold and definition the registry uses, each block with its
source; `data/registry/priority.csv` holds the ordered priority rules, each a small boolean expression
over registry columns (``high_dose_90 and benzo_overlap_days_90d >= 1``) with the reason shown to the
clinician. A programme edits the data, not the code; the metadata file beside every registry names the
version used. Shipped presets (``data/registry/settings-<name>.json``, e.g. ``uk``: oral morphine
equivalents with the Opioids Aware high dose) are chosen by name where a settings file is accepted.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from taperwise.errors import KnowledgeError
from taperwise.knowledge.conditions import parse_condition
from taperwise.knowledge.factors import load_sources, read_data_csv

_DATA = resources.files("taperwise.knowledge") / "data" / "registry"

# Columns a priority rule may name, and the value types it may compare them with.
RULE_COLUMNS = {
    "avg_daily_mme_90d": "number",
    "max_daily_mme_90d": "number",
    "days_covered_90d": "number",
    "ltot": "bool",
    "high_dose_50": "bool",
    "high_dose_90": "bool",
    "benzo_overlap_days_90d": "number",
    "prescribers_180d": "number",
    "pharmacies_180d": "number",
    "multi_provider": "bool",
    "new_prescriber": "bool",
    "buprenorphine_days_90d": "number",
    "opioid_overdose_180d": "number",
    "harm_events_180d": "number",
    "problem_records_180d": "number",
    "unknown_dose_days_90d": "number",
    "dose_complete": "bool",
    "current_daily_mme": "number",
    "restarted_after_gap": "bool",
}


@dataclass(frozen=True)
class PriorityRule:
    rank: int
    rule_id: str
    when: str
    reason: str
    source_id: str
    expression: ast.expr


@dataclass(frozen=True)
class RegistrySettings:
    version: str
    lookback_days: int
    recent_days: int
    ltot_definition: str
    ltot_min_days: int
    ltot_window_days: int
    ltot_label: str
    high_dose_thresholds: tuple[int, int]
    benzo_min_days: int
    min_prescribers: int
    min_pharmacies: int
    provider_window_days: int
    new_prescriber_lookback_days: int
    buprenorphine_for_pain_routes: tuple[str, ...]
    harm_window_days: int
    raw: dict[str, Any]
    restart_gap_days: int = 30  # days without opioid supply before a restart is flagged

    def with_ltot(self, definition: str) -> RegistrySettings:
        options = self.raw["ltot"]["definitions"]
        if definition not in options:
            raise KnowledgeError(
                f"unknown LTOT definition {definition!r}; known: {', '.join(sorted(options))}"
            )
        chosen = options[definition]
        return replace(
            self,
            ltot_definition=definition,
            ltot_min_days=int(chosen["min_days"]),
            ltot_window_days=int(chosen["window_days"]),
            ltot_label=str(chosen["label"]),
        )


def parse_rule(text: str, where: str) -> ast.expr:
    """Parse a rule expression, allowing only names of registry columns, numbers, booleans, and/or/not."""
    return parse_condition(text, RULE_COLUMNS, where)


@cache
def load_priority_rules(path: Path | None = None) -> tuple[PriorityRule, ...]:
    """The ordered priority rules (packaged default, or a programme's own CSV)."""
    source = path if path is not None else _DATA / "priority.csv"
    known_sources = load_sources()
    rules = []
    for number, row in enumerate(read_data_csv(source), start=2):
        where = f"{source}, line {number}"
        if row["source_id"] not in known_sources:
            raise KnowledgeError(f"{where}: source {row['source_id']!r} is not in sources.csv")
        rules.append(
            PriorityRule(
                rank=int(row["rank"]),
                rule_id=row["rule_id"],
                when=row["when"],
                reason=row["reason"],
                source_id=row["source_id"],
                expression=parse_rule(row["when"], where),
            )
        )
    ranks = [rule.rank for rule in rules]
    if ranks != sorted(set(ranks)):
        raise KnowledgeError(f"{source}: ranks must be unique and in ascending order, got {ranks}")
    return tuple(rules)


def settings_presets() -> tuple[str, ...]:
    """Names of the shipped settings presets (``--settings uk``)."""
    prefix, suffix = "settings-", ".json"
    names = (entry.name for entry in _DATA.iterdir())
    return tuple(
        sorted(n[len(prefix) : -len(suffix)] for n in names if n.startswith(prefix) and n.endswith(suffix))
    )


def _settings_source(path: Path | None) -> tuple[Path | Traversable, bool]:
    """The settings file (the default, a programme's own, or the shipped preset `path` names), and
    whether it is a preset."""
    if path is None:
        return _DATA / "flags.json", False
    if path.exists():
        return path, False
    if str(path) in settings_presets():
        return _DATA / f"settings-{path}.json", True
    raise KnowledgeError(
        f"{path}: no such registry settings file, and not a shipped preset ({', '.join(settings_presets())})"
    )


def _read_settings(source: Path | Traversable, preset: bool) -> dict[str, Any]:
    """The settings as JSON. A shipped preset holds only the blocks it changes (its version, the high-dose
    thresholds): each replaces the default's block of that name, so a preset never lags the default."""
    raw: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    if not preset:
        return raw
    return {**json.loads((_DATA / "flags.json").read_text(encoding="utf-8")), **raw}


@cache
def load_registry_settings(path: Path | None = None) -> RegistrySettings:
    """Registry thresholds and definitions (packaged default, a programme's own JSON, or a preset's name)."""
    source, preset = _settings_source(path)
    try:
        raw = _read_settings(source, preset)
        known = load_sources()
        for block in ("ltot", "high_dose", "benzo_overlap", "multi_provider", "new_prescriber"):
            named = raw[block]["source_id"]
            if named not in known:
                raise KnowledgeError(f"{source}: {block}.source_id {named!r} is not in sources.csv")
        low, high = (int(value) for value in raw["high_dose"]["thresholds"])
        settings = RegistrySettings(
            version=str(raw["version"]),
            lookback_days=int(raw["lookback_days"]),
            recent_days=int(raw["recent_days"]),
            ltot_definition="",
            ltot_min_days=0,
            ltot_window_days=0,
            ltot_label="",
            high_dose_thresholds=(low, high),
            benzo_min_days=int(raw["benzo_overlap"]["min_days"]),
            min_prescribers=int(raw["multi_provider"]["min_prescribers"]),
            min_pharmacies=int(raw["multi_provider"]["min_pharmacies"]),
            provider_window_days=int(raw["multi_provider"]["window_days"]),
            new_prescriber_lookback_days=int(raw["new_prescriber"]["lookback_days"]),
            buprenorphine_for_pain_routes=tuple(raw["buprenorphine_for_pain_routes"]),
            harm_window_days=int(raw["harm_window_days"]),
            restart_gap_days=int((raw.get("restart") or {}).get("gap_days", 30)),
            raw=raw,
        )
        return settings.with_ltot(str(raw["ltot"]["default"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise KnowledgeError(f"{source}: registry settings are incomplete or malformed ({exc})") from exc
