"""Program content as data: modules with their texts, programme templates, assessment → module rules.

- `data/program/modules.json` lists the modules (title, length, who delivers it, the barrier domains it
  addresses, sources); each has a patient handout and a clinician script in
  `data/program/modules/<id>/patient.md` and `clinician.md`, written for this project. A module's
  `digest` covers its metadata and both texts: a clinician's sign-off names the digest it approved,
  so an edited text is a draft again until someone signs the new one.
- `data/program/templates.json`: the formats trials used (the IOC program, the five-session primary
  care intervention, INSPIRE's two arms, a single pain-skills class, I-WOTCH) as sessions, each with
  fixed modules and open slots for the modules this patient's assessment recommends.
- `data/program/selection.csv`: the rules, one per line — a condition over instrument scores and items
  (`bfq_pain_relief >= 2.5`), the module it recommends, the reason shown to the clinician and its source.
  A programme edits the file; every rule has a test.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from taperwise.errors import KnowledgeError
from taperwise.knowledge.conditions import parse_condition
from taperwise.knowledge.factors import read_data_csv, read_data_json
from taperwise.knowledge.instruments import load_instruments, load_program_sources

_DATA = resources.files("taperwise.knowledge") / "data" / "program"
AUDIENCES = ("patient", "clinician")
FORMATS = ("individual", "group")
ROLES = ("prescriber", "pharmacist", "nurse", "psychologist", "physiotherapist", "peer")


@dataclass(frozen=True)
class Module:
    id: str
    title: str
    minutes: int
    core: bool
    delivered_by: tuple[str, ...]
    addresses: tuple[str, ...]
    source_ids: tuple[str, ...]
    patient_text: str
    clinician_text: str
    version: str

    @property
    def digest(self) -> str:
        """SHA-256 over the module's metadata and both texts: what a sign-off approves."""
        payload = json.dumps(
            [
                self.id,
                self.title,
                self.minutes,
                self.core,
                self.delivered_by,
                self.addresses,
                self.source_ids,
                self.patient_text,
                self.clinician_text,
                self.version,
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def text(self, audience: str) -> str:
        return self.patient_text if audience == "patient" else self.clinician_text


@dataclass(frozen=True)
class SessionTemplate:
    title: str
    week: int
    format: str
    minutes: int
    delivered_by: str
    module_ids: tuple[str, ...]
    open_slots: int


@dataclass(frozen=True)
class ProgramTemplate:
    id: str
    title: str
    summary: str
    source_id: str
    structure_source: str
    sessions: tuple[SessionTemplate, ...]


@dataclass(frozen=True)
class SelectionRule:
    rule_id: str
    when: str
    expression: ast.expr
    module_id: str
    reason: str
    source_id: str


def assessment_names() -> frozenset[str]:
    """Names a selection rule may use: every instrument's items and scores."""
    names: set[str] = set()
    for instrument in load_instruments():
        names.update(item.id for item in instrument.items if item.kind == "choice")
        names.update(score.id for score in instrument.scores)
    return frozenset(names)


@cache
def load_modules() -> tuple[Module, ...]:
    raw = _json("modules.json")
    sources = load_program_sources()
    domains = {
        score.id.removeprefix("bfq_") for i in load_instruments() if i.id == "bfq" for score in i.scores
    }
    modules = []
    for entry in raw["modules"]:
        where = f"program/modules.json, module {entry.get('id')}"
        try:
            module = _module(entry, str(raw["version"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise KnowledgeError(f"{where}: malformed ({exc!r})") from exc
        unknown = [s for s in module.source_ids if s not in sources]
        if unknown or not module.source_ids:
            raise KnowledgeError(f"{where}: needs sources from program/sources.csv, unknown {unknown}")
        if not set(module.addresses) <= domains or not set(module.delivered_by) <= set(ROLES):
            raise KnowledgeError(
                f"{where}: addresses must be barrier domains {sorted(domains)}, roles {ROLES}"
            )
        modules.append(module)
    ids = [module.id for module in modules]
    if len(set(ids)) != len(ids):
        raise KnowledgeError("program/modules.json: module ids must be unique")
    return tuple(modules)


def _module(entry: dict[str, Any], version: str) -> Module:
    folder = _DATA / "modules" / entry["id"]
    texts = {}
    for audience in AUDIENCES:
        path = folder / f"{audience}.md"
        if not path.is_file():
            raise KnowledgeError(f"program/modules/{entry['id']}/{audience}.md is missing")
        texts[audience] = path.read_text(encoding="utf-8")
    return Module(
        id=entry["id"],
        title=entry["title"],
        minutes=int(entry["minutes"]),
        core=bool(entry["core"]),
        delivered_by=tuple(entry["delivered_by"]),
        addresses=tuple(entry["addresses"]),
        source_ids=tuple(entry["sources"]),
        patient_text=texts["patient"],
        clinician_text=texts["clinician"],
        version=version,
    )


def module_by_id(module_id: str) -> Module:
    for module in load_modules():
        if module.id == module_id:
            return module
    raise KnowledgeError(f"unknown module {module_id!r}; known: {', '.join(m.id for m in load_modules())}")


@cache
def load_templates() -> tuple[ProgramTemplate, ...]:
    raw = _json("templates.json")
    sources = load_program_sources()
    module_ids = {module.id for module in load_modules()}
    templates = []
    for entry in raw["templates"]:
        where = f"program/templates.json, template {entry.get('id')}"
        try:
            sessions = tuple(_session(session) for session in entry["sessions"])
            template = ProgramTemplate(
                entry["id"],
                entry["title"],
                entry["summary"],
                entry["source_id"],
                entry["structure_source"],
                sessions,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KnowledgeError(f"{where}: malformed ({exc!r})") from exc
        if template.source_id not in sources:
            raise KnowledgeError(f"{where}: source {template.source_id!r} is not in program/sources.csv")
        for number, session in enumerate(sessions, start=1):
            if not set(session.module_ids) <= module_ids or session.format not in FORMATS:
                raise KnowledgeError(
                    f"{where}, session {number}: unknown module or format {session.format!r}"
                )
            if session.delivered_by not in ROLES or session.open_slots < 0 or session.minutes <= 0:
                raise KnowledgeError(f"{where}, session {number}: role must be one of {ROLES}, slots ≥ 0")
        weeks = [session.week for session in sessions]
        if weeks != sorted(weeks) or not sessions:
            raise KnowledgeError(f"{where}: sessions must be in order of week")
        templates.append(template)
    return tuple(templates)


def _session(entry: dict[str, Any]) -> SessionTemplate:
    return SessionTemplate(
        title=entry["title"],
        week=int(entry["week"]),
        format=entry["format"],
        minutes=int(entry["minutes"]),
        delivered_by=entry["delivered_by"],
        module_ids=tuple(entry["modules"]),
        open_slots=int(entry["open_slots"]),
    )


def template_by_id(template_id: str) -> ProgramTemplate:
    for template in load_templates():
        if template.id == template_id:
            return template
    known = ", ".join(template.id for template in load_templates())
    raise KnowledgeError(f"unknown programme template {template_id!r}; known: {known}")


@cache
def load_selection_rules(path: Path | None = None) -> tuple[SelectionRule, ...]:
    """The assessment → module rules (packaged default, or a programme's own CSV)."""
    source = path if path is not None else _DATA / "selection.csv"
    sources = load_program_sources()
    names = assessment_names()
    modules = {module.id for module in load_modules()}
    rules = []
    for number, row in enumerate(read_data_csv(source), start=2):
        where = f"{source}, line {number}"
        if row.get("source_id") not in sources:
            raise KnowledgeError(f"{where}: source {row.get('source_id')!r} is not in program/sources.csv")
        if row.get("module_id") not in modules:
            raise KnowledgeError(f"{where}: unknown module {row.get('module_id')!r}")
        expression = parse_condition(row["when"], names, where, what="item or score")
        rule = SelectionRule(
            row["rule_id"], row["when"], expression, row["module_id"], row["reason"], row["source_id"]
        )
        rules.append(rule)
    ids = [rule.rule_id for rule in rules]
    if len(set(ids)) != len(ids):
        raise KnowledgeError(f"{source}: rule ids must be unique")
    return tuple(rules)


def _json(name: str) -> dict[str, Any]:
    return read_data_json(_DATA / name, f"program/{name}")


@dataclass(frozen=True)
class IntakeItem:
    """One step of the inherited-patient intake (seed 002: records, PDMP, urine drug test, agreement)."""

    item_id: str
    label: str
    detail: str
    source_id: str
    source: str


@dataclass(frozen=True)
class IntakeDecision:
    """How an intake ends; `needs` names what must be written with it (a referral, a bridging plan)."""

    decision: str
    label: str
    needs: tuple[str, ...]
    meaning: str
    source_id: str


@cache
def load_intake_checklist() -> tuple[IntakeItem, ...]:
    sources = load_program_sources()
    items = []
    for number, row in enumerate(read_data_csv(_DATA / "intake-checklist.csv"), start=2):
        if row["source_id"] not in sources:
            raise KnowledgeError(
                f"program/intake-checklist.csv, line {number}: unknown source {row['source_id']!r}"
            )
        items.append(IntakeItem(row["item_id"], row["label"], row["detail"], row["source_id"], row["source"]))
    return tuple(items)


@cache
def load_intake_decisions() -> tuple[IntakeDecision, ...]:
    sources = load_program_sources()
    decisions = []
    for number, row in enumerate(read_data_csv(_DATA / "intake-decisions.csv"), start=2):
        needs = tuple(part for part in row["needs"].split(";") if part)
        if row["source_id"] not in sources or not set(needs) <= {"referral", "bridging"}:
            raise KnowledgeError(f"program/intake-decisions.csv, line {number}: unknown source or need")
        decisions.append(
            IntakeDecision(row["decision"], row["label"], needs, row["meaning"], row["source_id"])
        )
    return tuple(decisions)


@dataclass(frozen=True)
class MonitoringKind:
    id: str
    label: str
    interval_days: int
    source_id: str
    basis: str


@cache
def load_monitoring_kinds() -> tuple[MonitoringKind, ...]:
    raw = _json("monitoring.json")
    sources = load_program_sources()
    kinds = []
    for entry in raw["kinds"]:
        kind = MonitoringKind(
            entry["id"], entry["label"], int(entry["interval_days"]), entry["source_id"], entry["basis"]
        )
        if kind.source_id not in sources or kind.interval_days <= 0:
            raise KnowledgeError(
                f"program/monitoring.json, {kind.id}: unknown source or an interval not above 0"
            )
        kinds.append(kind)
    return tuple(kinds)


@dataclass(frozen=True)
class KeyMessage:
    """What every member of the team says the same way (the UK pain specialists' "consistent messages")."""

    message_id: str
    message: str
    source_id: str


@cache
def load_key_messages() -> tuple[KeyMessage, ...]:
    sources = load_program_sources()
    messages = []
    for number, row in enumerate(read_data_csv(_DATA / "key-messages.csv"), start=2):
        if row["source_id"] not in sources:
            raise KnowledgeError(
                f"program/key-messages.csv, line {number}: unknown source {row['source_id']!r}"
            )
        messages.append(KeyMessage(row["message_id"], row["message"], row["source_id"]))
    return tuple(messages)
