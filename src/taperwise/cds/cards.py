"""The facts of one hook call and the cards the rules give for them (knowledge/data/cds/cards.json).

The facts come from the call's medicines (`HookExposure`), the registry's definitions (high-dose
thresholds, long-term therapy, the new-prescriber look-back), the shared clinical alerts
(`taperwise.alerts`: the naloxone criteria, as on the patient page) and what taperwise's store holds of
the patient (an agreed plan, a recent review). A condition that cannot be decided (a fact unknown) gives
no card; the detail of every card lists the prescriptions behind it, the factor set, and what could not
be computed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from taperwise.alerts import ExposureFacts, exposure_alerts
from taperwise.cds.calls import HookCall
from taperwise.cds.exposure import HookExposure, Medicine
from taperwise.knowledge.cds import SUMMARY_LIMIT, CardRule, CardRules, CdsService
from taperwise.knowledge.conditions import Value, evaluate_condition
from taperwise.knowledge.registry import RegistrySettings
from taperwise.store.cds import CdsPatientRecord
from taperwise.taper.plan import TaperPlan

TOPIC_SYSTEM = "https://taperwise.org/cds/cards"
OVERRIDE_SYSTEM = "https://taperwise.org/cds/override-reasons"
RELEVANT_CLASSES = ("opioid", "benzodiazepine")
MAX_PROBLEMS_SHOWN = 20  # a card's detail names this many records not read, then says how many more


def mme_text(value: Decimal) -> str:
    """180 → "180", 22.5 → "22.5": one decimal at most, half up."""
    rounded = value.quantize(Decimal("0.1"))
    return f"{rounded.normalize():f}" if rounded != rounded.to_integral() else f"{rounded.to_integral():f}"


def _covered_days(medicines: Sequence[Medicine], first: dt.date, last: dt.date) -> int:
    """Days from `first` to `last` covered by at least one of the medicines' supplies."""
    days: set[dt.date] = set()
    for m in medicines:
        if m.start_date is None or m.end_date is None:
            continue
        start, end = max(m.start_date, first), min(m.end_date, last)
        days.update(start + dt.timedelta(days=n) for n in range((end - start).days + 1))
    return len(days)


def _user_ids(call: HookCall) -> set[str]:
    """The ids the current user may appear under as a prescriber: context.userId's id, and the
    Practitioner of a PractitionerRole in the `user` prefetch."""
    ids = set()
    if call.user_id:
        ids.add(call.user_id.rsplit("/", 1)[-1])
    user = call.prefetch.get("user")
    if isinstance(user, dict) and user.get("resourceType") == "PractitionerRole":
        reference = (user.get("practitioner") or {}).get("reference")
        if isinstance(reference, str):
            ids.add(reference.rsplit("/", 1)[-1])
    return ids


def _prescriber(m: Medicine) -> str | None:
    return m.prescriber_id.rsplit("/", 1)[-1] if m.prescriber_id else None


@dataclass(frozen=True)
class InheritedCheck:
    new: bool | None
    text: str


def _inherited(call: HookCall, exposure: HookExposure, lookback: int) -> InheritedCheck:
    """Whether the patient is new to the prescriber: on the order hooks, the user drafting an opioid wrote
    none of the patient's opioids in the look-back; on patient-view, the registry's rule on the latest
    opioid (its prescriber wrote none in the look-back before it). Unknown without prescriber ids."""
    opioids = [m for m in exposure.medicines if m.drug_class == "opioid" and m.start_date is not None]
    history = [m for m in opioids if not m.draft]
    if call.hook != "patient-view":
        drafted = [m for m in opioids if m.draft]
        users = _user_ids(call)
        if not drafted:
            return InheritedCheck(False, "")
        if not users:
            return InheritedCheck(None, "the current user is not known")
        since = exposure.day - dt.timedelta(days=lookback)
        earlier = [m for m in history if m.start_date is not None and since <= m.start_date <= exposure.day]
        if not earlier:
            return InheritedCheck(False, "")
        if any(_prescriber(m) is None for m in earlier):
            return InheritedCheck(None, "some earlier prescriptions name no prescriber")
        if users & {_prescriber(m) for m in earlier}:
            return InheritedCheck(False, "")
        return InheritedCheck(
            True, f"{len(earlier)} opioid prescription(s) in the last {lookback} days, none from you"
        )
    if not history:
        return InheritedCheck(False, "")
    latest = max(history, key=lambda m: (m.start_date or dt.date.min, m.rx_id))
    assert latest.start_date is not None
    since = latest.start_date - dt.timedelta(days=lookback)
    before = [
        m
        for m in history
        if m is not latest and m.start_date is not None and since <= m.start_date < latest.start_date
    ]
    if not before:
        return InheritedCheck(False, "")
    if _prescriber(latest) is None or any(_prescriber(m) is None for m in before):
        return InheritedCheck(None, "some prescriptions name no prescriber")
    if _prescriber(latest) in {_prescriber(m) for m in before}:
        return InheritedCheck(False, "")
    return InheritedCheck(
        True,
        f"the latest opioid prescription's prescriber wrote none of the {len(before)} "
        f"in the {lookback} days before it",
    )


def _plan_next(plan: TaperPlan | None, day: dt.date) -> str:
    """Where the agreed plan stands on `day`: the step in force and the next one."""
    if plan is None:
        return ""
    current = next((step for step in plan.steps if step.covers(day)), None)
    upcoming = [step for step in plan.steps if step.start_date > day]
    parts = []
    if current is not None:
        parts.append(f"now step {current.number}, {mme_text(current.daily_mme)} MME/day")
    if upcoming:
        nxt = upcoming[0]
        parts.append(
            f"next, step {nxt.number} from {nxt.start_date.isoformat()} ({mme_text(nxt.daily_mme)} MME/day)"
        )
    elif current is not None:
        parts.append("the last step")
    if not parts:
        parts.append(f"it starts on {plan.steps[0].start_date.isoformat()}" if plan.steps else "no steps")
    return "; ".join(parts)


@dataclass(frozen=True)
class CallFacts:
    values: dict[str, Value]
    texts: dict[str, str]


def call_facts(
    call: HookCall,
    exposure: HookExposure,
    rules: CardRules,
    settings: RegistrySettings,
    record: CdsPatientRecord | None,
) -> CallFacts:
    day = exposure.day
    caution, high = settings.high_dose_thresholds
    total = exposure.total_mme
    benzodiazepines = exposure.of_class("benzodiazepine")
    sedatives = exposure.sedatives()
    alerts = exposure_alerts(
        ExposureFacts(
            avg_daily_mme=total,
            current_daily_mme=total,
            dose_complete=exposure.dose_complete,
            benzo_overlap_days=1 if benzodiazepines and exposure.opioid_now else 0,
            recent_days=1,
        )
    )
    naloxone = next((alert for alert in alerts if alert.code == "naloxone"), None)
    since = day - dt.timedelta(days=rules.naloxone_lookback_days)
    naloxone_on_record = any(
        m.ingredient == "naloxone"
        and m.drug_class == "other"
        and m.start_date is not None
        and m.start_date >= since
        for m in exposure.medicines
    )
    first = day - dt.timedelta(days=settings.ltot_window_days - 1)
    opioid_history = [m for m in exposure.medicines if m.drug_class == "opioid" and not m.draft]
    covered = _covered_days(opioid_history, first, day)
    reviewed = (
        record is not None
        and record.last_review is not None
        and record.last_review.date() >= day - dt.timedelta(days=rules.review_lookback_days)
    )
    inherited = _inherited(call, exposure, settings.new_prescriber_lookback_days)
    plan = record.agreed_plan if record is not None else None
    plan_next = _plan_next(plan, day)
    drafts = [m for m in exposure.medicines if m.draft]

    def relevant(items: Sequence[Medicine]) -> bool:
        return any(m.drug_class in RELEVANT_CLASSES or m.ingredient in exposure.sedative_of for m in items)

    kinds = sorted({exposure.sedative_of[m.ingredient] for m in sedatives if m.ingredient})
    values: dict[str, Value] = {
        "opioid_now": exposure.opioid_now,
        "total_mme": total,
        "dose_complete": exposure.dose_complete,
        "caution_threshold": caution,
        "high_threshold": high,
        "benzodiazepine_now": bool(benzodiazepines),
        "sedative_now": bool(sedatives),
        "naloxone_indicated": naloxone is not None and exposure.opioid_now,
        "naloxone_on_record": naloxone_on_record,
        "long_term": covered >= settings.ltot_min_days,
        "reviewed_recently": reviewed,
        "new_prescriber": inherited.new,
        "plan_exists": plan is not None,
        "selected_relevant": relevant([m for m in drafts if m.selected]),
        "draft_relevant": relevant(drafts),
        "unrecognised_now": bool(exposure.unrecognised),
    }
    texts = {
        "total_text": mme_text(total),
        "with_orders": " with the draft order"
        + ("s" if len([m for m in drafts if m.drug_class == "opioid"]) > 1 else "")
        if any(m.drug_class == "opioid" and m in exposure.counted for m in drafts)
        else "",
        "sedative_kinds": " and a ".join(kinds) or "sedative",
        "naloxone_years": str(round(rules.naloxone_lookback_days / 365)),
        "naloxone_reasons": naloxone.message if naloxone else "",
        "review_months": str(round(rules.review_lookback_days / 30.4)),
        "ltot_text": f"{covered} of the last {settings.ltot_window_days} days had opioid supply "
        f"({settings.ltot_label})",
        "inherited_text": inherited.text,
        "plan_next": plan_next,
        "plan_agreed_on": record.agreed_on.isoformat() if record is not None and record.agreed_on else "",
        "unrecognised_count": str(len(exposure.unrecognised)),
    }
    return CallFacts(values, texts)


def _fill(template: str, facts: CallFacts) -> str:
    fields: dict[str, object] = {
        **{k: ("" if v is None else v) for k, v in facts.values.items()},
        **facts.texts,
    }
    return template.format(**fields)


def _summary(text: str) -> str:
    """Under 140 characters, as CDS Hooks requires: a longer one ends in an ellipsis (the detail keeps
    all of it)."""
    return text if len(text) < SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 2].rstrip() + "…"


def _line(m: Medicine) -> str:
    where = " (draft order)" if m.draft else ""
    start = m.start_date.isoformat() if m.start_date else "?"
    period = f"{start} to {m.end_date.isoformat() if m.end_date else '?'}"
    if m.status == "ok" and m.daily_mme is not None:
        return f"- {m.drug}{where}: {mme_text(m.daily_mme)} MME/day, {period} (`{m.rx_id}`)"
    return f"- {m.drug}{where}: {m.reason or m.status}, {period} (`{m.rx_id}`)"


def detail_of(rule: CardRule, facts: CallFacts, exposure: HookExposure) -> str:
    """The card's detail (Markdown): the rule's text, then the prescriptions behind it."""
    parts = [_fill(rule.detail, facts)] if rule.detail else []
    if exposure.counted:
        parts.append(f"**Counted today** ({exposure.day.isoformat()}, factor set {exposure.factor_set}):")
        parts.append("\n".join(_line(m) for m in exposure.counted))
    if exposure.uncounted_opioids:
        parts.append(
            "**Opioids whose daily dose could not be computed** (not in the total, which is a lower bound):"
        )
        parts.append("\n".join(_line(m) for m in exposure.uncounted_opioids))
    if exposure.unrecognised:
        parts.append("**Not recognised** (not in the total; check none is an opioid):")
        parts.append("\n".join(_line(m) for m in exposure.unrecognised))
    others = [
        m
        for m in exposure.current()
        if m.drug_class == "benzodiazepine" or m.ingredient in exposure.sedative_of
    ]
    if others and rule.id in ("opioid-benzodiazepine", "triple-threat", "naloxone"):
        parts.append("**Also current:**")
        parts.append("\n".join(_line(m) for m in others))
    if exposure.problems:
        parts.append("**Not read:**")
        shown = [f"- {problem}" for problem in exposure.problems[:MAX_PROBLEMS_SHOWN]]
        if len(exposure.problems) > MAX_PROBLEMS_SHOWN:
            shown.append(f"- and {len(exposure.problems) - MAX_PROBLEMS_SHOWN} more records not read")
        parts.append("\n".join(shown))
    return "\n\n".join(parts)


def naloxone_suggestion(call: HookCall, rules: CardRules) -> dict[str, Any]:
    product = rules.naloxone_product
    return {
        "label": f"Order {product['text']}",
        "uuid": str(uuid.uuid4()),
        "isRecommended": True,
        "actions": [
            {
                "type": "create",
                "description": f"A draft order for {product['text']} for this patient",
                "resource": {
                    "resourceType": "MedicationRequest",
                    "status": "draft",
                    "intent": "proposal",
                    "subject": {"reference": f"Patient/{call.patient_id}"},
                    "medicationCodeableConcept": {"text": product["text"]},
                    "dosageInstruction": [{"text": product["sig"]}],
                    "dispenseRequest": {"quantity": {"value": product["quantity"], "unit": product["unit"]}},
                },
            }
        ],
    }


LinkBuilder = Callable[[str, CdsPatientRecord], str | None]


def cards_for(
    call: HookCall,
    service: CdsService,
    exposure: HookExposure,
    rules: CardRules,
    settings: RegistrySettings,
    record: CdsPatientRecord | None,
    link_to: LinkBuilder,
) -> list[dict[str, Any]]:
    """The cards of one call, in the rules' order (a superseded card left out)."""
    facts = call_facts(call, exposure, rules, settings, record)
    if evaluate_condition(service.applies_when, facts.values) is not True:
        return []
    firing = [rule for rule in rules.cards if evaluate_condition(rule.condition, facts.values) is True]
    superseded = {other for rule in firing for other in rule.supersedes}
    cards = []
    for rule in firing:
        if rule.id in superseded:
            continue
        source = rules.sources[rule.source_id]
        card: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "summary": _summary(_fill(rule.summary, facts)),
            "indicator": rule.indicator,
            "detail": detail_of(rule, facts, exposure) + _also(rule, rules.sources),
            "source": {
                "label": f"taperwise — {source.citation.split('.')[0]}",
                **({"url": source.url} if source.url else {}),
                "topic": {"system": TOPIC_SYSTEM, "code": rule.id, "display": rule.id.replace("-", " ")},
            },
        }
        if rule.indicator != "info" or rule.suggestion:
            card["overrideReasons"] = [
                {"system": OVERRIDE_SYSTEM, "code": reason.code, "display": reason.display}
                for reason in rules.override_reasons
            ]
        if rule.suggestion == "naloxone":
            card["suggestions"] = [naloxone_suggestion(call, rules)]
            card["selectionBehavior"] = "at-most-one"
        if rule.link and record is not None:
            url = link_to(rule.link, record)
            if url:
                card["links"] = [{"label": _link_label(rule.link), "url": url, "type": "absolute"}]
        cards.append(card)
    return cards


def _also(rule: CardRule, sources: Mapping[str, Any]) -> str:
    cited = [sources[s].citation for s in rule.also_sources]
    return ("\n\nSee also: " + "; ".join(cited)) if cited else ""


def _link_label(kind: str) -> str:
    return {"patient": "Open the patient in taperwise", "plan": "Open the taper plan in taperwise",
            "intake": "Open the intake checklist in taperwise"}[kind]  # fmt: skip
