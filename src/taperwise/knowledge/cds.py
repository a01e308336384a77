"""The CDS Hooks services and their cards, as data (`data/cds/`).

- `services.json`: the services `GET /cds-services` lists (id, hook, title, description), the prefetch
  templates they ask for, and for each a condition that gates all its cards (the order hooks answer only
  when an order of a relevant kind is drafted).
- `cards.json`: one rule per card — a condition over the facts of one hook call (the names in `FACTS`),
  the indicator, a summary and a detail filled from the facts, the source, and the cards it supersedes;
  the ingredients that count as gabapentinoids and muscle relaxants; the override reasons offered.
- `sources.csv`: the sources the cards cite.

Everything is checked at load: a condition naming an unknown fact, a template naming an unknown field,
an indicator CDS Hooks does not have, an unknown source or ingredient, a supersession of an unknown card.
"""

from __future__ import annotations

import ast
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from taperwise.errors import KnowledgeError
from taperwise.knowledge.conditions import parse_condition
from taperwise.knowledge.factors import read_data_csv, read_data_json
from taperwise.knowledge.vocabulary import load_vocabulary

_DATA = resources.files("taperwise.knowledge") / "data" / "cds"
HOOKS = ("patient-view", "order-select", "order-sign")
INDICATORS = ("info", "warning", "critical")
LINKS = ("patient", "plan", "intake")
# The facts a card's condition may read (computed per call by taperwise.cds.facts).
FACTS = frozenset(
    {
        "opioid_now", "total_mme", "dose_complete", "caution_threshold", "high_threshold",
        "benzodiazepine_now", "sedative_now", "naloxone_indicated", "naloxone_on_record", "long_term",
        "reviewed_recently", "new_prescriber", "plan_exists", "selected_relevant", "draft_relevant",
        "unrecognised_now",
    }
)  # fmt: skip
# The texts a summary or detail may name, beside the facts.
TEXTS = frozenset(
    {
        "total_text", "with_orders", "sedative_kinds", "naloxone_years", "naloxone_reasons",
        "review_months", "ltot_text", "inherited_text", "plan_next", "plan_agreed_on", "unrecognised_count",
    }
)  # fmt: skip
SUMMARY_LIMIT = 140  # CDS Hooks: a summary is under 140 characters


@dataclass(frozen=True)
class CdsSource:
    id: str
    citation: str
    url: str


@dataclass(frozen=True)
class CardRule:
    id: str
    title: str  # what the card is about, for reports (the summary is filled per call)
    condition_text: str
    condition: ast.expr
    indicator: str
    summary: str
    detail: str
    source_id: str
    also_sources: tuple[str, ...]
    supersedes: tuple[str, ...]
    suggestion: str | None
    link: str | None


@dataclass(frozen=True)
class OverrideReason:
    code: str
    display: str


@dataclass(frozen=True)
class CardRules:
    version: str
    cards: tuple[CardRule, ...]
    sedatives: dict[str, tuple[str, ...]]  # kind → ingredients
    sedatives_source: str
    naloxone_lookback_days: int
    naloxone_product: dict[str, Any]  # text, sig, quantity, unit: the naloxone card's suggested order
    review_lookback_days: int
    override_reasons: tuple[OverrideReason, ...]
    sources: dict[str, CdsSource]

    def sedative_kind(self, ingredient: str | None) -> str | None:
        for kind, ingredients in self.sedatives.items():
            if ingredient in ingredients:
                return kind
        return None


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str
    applies_when: ast.expr


@dataclass(frozen=True)
class CdsServices:
    version: str
    services: tuple[CdsService, ...]
    prefetch: dict[str, str]

    def by_id(self, service_id: str) -> CdsService | None:
        return next((s for s in self.services if s.id == service_id), None)


def _json(name: str) -> dict[str, Any]:
    return read_data_json(_DATA / name, f"cds/{name}")


@cache
def load_cds_sources() -> dict[str, CdsSource]:
    return {
        row["source_id"]: CdsSource(row["source_id"], row["citation"], row["url"])
        for row in read_data_csv(_DATA / "sources.csv")
    }


def _fields(template: str, where: str) -> None:
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None and name not in FACTS | TEXTS:
            raise KnowledgeError(f"{where}: names unknown field {{{name}}}")


def _card(entry: dict[str, Any], sources: dict[str, CdsSource]) -> CardRule:
    where = f"cds/cards.json card {entry.get('id')!r}"
    try:
        rule = CardRule(
            id=str(entry["id"]),
            title=str(entry["title"]),
            condition_text=str(entry["when"]),
            condition=parse_condition(str(entry["when"]), FACTS, where, what="fact"),
            indicator=str(entry["indicator"]),
            summary=str(entry["summary"]),
            detail=str(entry.get("detail") or ""),
            source_id=str(entry["source_id"]),
            also_sources=tuple(entry.get("also_sources") or ()),
            supersedes=tuple(entry.get("supersedes") or ()),
            suggestion=entry.get("suggestion"),
            link=entry.get("link"),
        )
    except KeyError as exc:
        raise KnowledgeError(f"{where}: {exc.args[0]!r} is missing") from exc
    if rule.indicator not in INDICATORS:
        raise KnowledgeError(f"{where}: indicator must be one of {', '.join(INDICATORS)}")
    for source in (rule.source_id, *rule.also_sources):
        if source not in sources:
            raise KnowledgeError(f"{where}: source {source!r} is not in cds/sources.csv")
    if rule.link is not None and rule.link not in LINKS:
        raise KnowledgeError(f"{where}: link must be one of {', '.join(LINKS)}")
    if rule.suggestion not in (None, "naloxone"):
        raise KnowledgeError(f"{where}: the only suggestion taperwise makes is 'naloxone'")
    _fields(rule.summary, f"{where} summary")
    _fields(rule.detail, f"{where} detail")
    return rule


@cache
def load_card_rules() -> CardRules:
    raw = _json("cards.json")
    sources = load_cds_sources()
    cards = tuple(_card(entry, sources) for entry in raw.get("cards") or [])
    ids = [card.id for card in cards]
    if len(set(ids)) != len(ids):
        raise KnowledgeError("cds/cards.json: a card id is used twice")
    for card in cards:
        for other in card.supersedes:
            if other not in ids:
                raise KnowledgeError(f"cds/cards.json card {card.id!r}: supersedes unknown card {other!r}")
    sedatives_raw = dict(raw.get("sedatives") or {})
    sedatives_source = str(sedatives_raw.pop("source_id", ""))
    if sedatives_source not in sources:
        raise KnowledgeError("cds/cards.json sedatives: source_id is not in cds/sources.csv")
    known = load_vocabulary().ingredients
    sedatives: dict[str, tuple[str, ...]] = {}
    for kind, ingredients in sedatives_raw.items():
        for ingredient in ingredients:
            if ingredient not in known:
                raise KnowledgeError(f"cds/cards.json sedatives: {ingredient!r} is not in ingredients.csv")
        sedatives[str(kind)] = tuple(ingredients)
    reasons = tuple(
        OverrideReason(str(r["code"]), str(r["display"])) for r in raw.get("override_reasons") or []
    )
    if any(not reason.display for reason in reasons):
        raise KnowledgeError("cds/cards.json: every override reason needs a display (CDS Hooks requires it)")
    return CardRules(
        version=str(raw["version"]),
        cards=cards,
        sedatives=sedatives,
        sedatives_source=sedatives_source,
        naloxone_lookback_days=int(raw["naloxone_lookback_days"]),
        naloxone_product=_naloxone_product(raw.get("naloxone_product")),
        review_lookback_days=int(raw["review_lookback_days"]),
        override_reasons=reasons,
        sources=sources,
    )


def _naloxone_product(raw: object) -> dict[str, Any]:
    """The naloxone order the card suggests: its text must read as a naloxone product."""
    from taperwise.knowledge.model import ParseFailure
    from taperwise.knowledge.parser import parse_product

    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) for k in ("text", "sig", "unit")):
        raise KnowledgeError("cds/cards.json naloxone_product: text, sig and unit are required")
    if not isinstance(raw.get("quantity"), int) or raw["quantity"] < 1:
        raise KnowledgeError("cds/cards.json naloxone_product: quantity must be a whole number from 1")
    parsed = parse_product(raw["text"])
    if isinstance(parsed, ParseFailure) or [i.ingredient for i in parsed.ingredients] != ["naloxone"]:
        raise KnowledgeError(
            f"cds/cards.json naloxone_product: {raw['text']!r} does not read as naloxone alone"
        )
    return dict(raw)


GATE_FACTS = frozenset({"selected_relevant", "draft_relevant"})


@cache
def load_cds_services() -> CdsServices:
    raw = _json("services.json")
    services = []
    for entry in raw.get("services") or []:
        where = f"cds/services.json service {entry.get('id')!r}"
        if entry.get("hook") not in HOOKS:
            raise KnowledgeError(f"{where}: hook must be one of {', '.join(HOOKS)}")
        services.append(
            CdsService(
                id=str(entry["id"]),
                hook=str(entry["hook"]),
                title=str(entry["title"]),
                description=str(entry["description"]),
                applies_when=parse_condition(str(entry["applies_when"]), GATE_FACTS, where, what="fact"),
            )
        )
    prefetch = {str(key): str(value) for key, value in (raw.get("prefetch") or {}).items()}
    return CdsServices(str(raw["version"]), tuple(services), prefetch)
