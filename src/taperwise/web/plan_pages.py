"""The plan pages: medication reconciliation, a plan from the taper engine, warnings acknowledged with a
reason, agreement, and the calendar and letter printed from the agreed plan.

Reconciliation starts from the patient's current supply in the registry snapshot — each drug's product
text exactly as prescribed (never swapped for another product) — and asks what the patient actually
takes: dose per administration and times a day, or the usual daily use of an as-needed medicine. Supply
does not say how a patient takes it, so no dose is guessed: the fields start empty, with the supply shown
beside them. The request goes to the same engine as `taperwise taper plan`; a refusal returns the form as
entered with the engine's message naming the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, status
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from taperwise.errors import RequestValidationError
from taperwise.knowledge.program import load_key_messages
from taperwise.reports.documents import Contact, calendar_html, letter_html, to_pdf
from taperwise.store import plans as repo
from taperwise.store.models import Patient
from taperwise.store.monitoring import current_agreement
from taperwise.store.program import can_record_clinical, latest_results, open_alerts
from taperwise.store.security import clean_text
from taperwise.store.worklist import patient_view
from taperwise.web.auth import CurrentUser, client_of, store_of
from taperwise.web.charts import Step as ChartStep
from taperwise.web.charts import trajectory_svg
from taperwise.web.picture import picture_of
from taperwise.web.rendering import render

router = APIRouter(include_in_schema=False)
MAX_REGIMEN_LINES = 24  # a form with more lines is refused whole, naming the limit: none is dropped
FACTORS = {
    "suspected_oud": "Suspected opioid use disorder",
    "suicide_risk": "Suicide risk (PHQ-9 item 9 above 0, or concern)",
    "pregnant": "Pregnant",
    "benzodiazepine": "Takes a benzodiazepine",
    "prior_overdose": "Overdose before",
    "substance_use_disorder": "Substance use disorder",
    "sleep_apnoea": "Sleep apnoea",
    "liver_disease": "Liver disease",
}
PACE_UNITS = {
    "percent_of_original": "% of the original dose",
    "percent_of_current": "% of the current dose",
    "absolute": "mg (or mcg/hr) a day",
}


def _not_found(request: Request, user: Any) -> Response:
    context = {
        "title": "Not found",
        "message": "There is no such plan or patient in your organisations' "
        "records, or your role cannot open it.",
    }
    return render(request, "error.html", context, user=user, status_code=404)


def _prefill(request: Request, user: Any, patient_id: str) -> dict[str, Any] | None:
    """The reconciliation form's starting values, from the registry snapshot; None when not allowed."""
    ip, agent = client_of(request)
    with store_of(request).session() as s:
        view = patient_view(s, user, patient_id, ip, agent)
        if view is None or not can_record_clinical(user):
            return None
        alerts = open_alerts(s, view.patient_id)
    picture = picture_of(view)
    lines = [
        line for line in picture.current_regimen if (line.prescription.drug_class or "") != "benzodiazepine"
    ]
    entry = view.entry
    values: dict[str, str] = {
        "start_date": dt.date.today().isoformat(),
        "opioid_use_days": "365" if entry is not None and entry.ltot else "",
        "goal": "discontinue",
        "pace_reduction": "10",
        "pace_unit": "percent_of_original",
        "pace_every_days": "28",
        "market": "",
    }
    for index, line in enumerate(lines):
        values[f"drug_{index}"] = line.prescription.drug or ""
        values[f"include_{index}"] = "on"
    if entry is not None and entry.benzo_overlap_days_90d:
        values["benzodiazepine"] = "on"
    if any(alert.alert_id == "phq9-item9" for alert in alerts):
        values["suicide_risk"] = "on"
    if entry is not None and (entry.opioid_overdose_180d or 0) > 0:
        values["prior_overdose"] = "on"
    supply = [_supply_text(line.prescription, line.days_since_end) for line in lines]
    return {"view": view, "values": values, "supply": supply, "rows": max(len(lines), 1)}


def _supply_text(prescription: Any, days_since_end: int) -> str:
    parts = []
    if prescription.quantity is not None and prescription.days_supply:
        parts.append(f"{prescription.quantity.normalize():f} units for {prescription.days_supply} days")
    if prescription.daily_mme is not None:
        parts.append(f"{prescription.daily_mme.normalize():f} MME/day")
    parts.append(
        "covers the registry date" if days_since_end == 0 else f"ended {days_since_end} days before it"
    )
    return "; ".join(parts)


def _form_context(
    prefill: dict[str, Any], values: dict[str, str], error: RequestValidationError | None
) -> dict[str, Any]:
    return {
        "v": prefill["view"],
        "values": values,
        "supply": prefill["supply"],
        "rows": max(prefill["rows"], _rows_in(values)),
        "factors": FACTORS,
        "pace_units": PACE_UNITS,
        "error": error,
        "error_field": error.field if error else None,
    }


def _line_numbers(values: Mapping[str, str]) -> list[int]:
    """The regimen line numbers the form holds (`drug_0`, `drug_1`, …), in order."""
    return sorted({int(key[5:]) for key in values if key.startswith("drug_") and key[5:].isdigit()})


def _rows_in(values: dict[str, str]) -> int:
    return max([number + 1 for number in _line_numbers(values)] or [1])


@router.get("/patients/{patient_id}/plans/new")
def new_plan(request: Request, patient_id: str, user: CurrentUser) -> Response:
    prefill = _prefill(request, user, patient_id)
    if prefill is None:
        return _not_found(request, user)
    values = dict(prefill["values"])
    rows = prefill["rows"] + 1  # one empty line for a medicine the registry does not show
    return render(request, "plan_new.html", _form_context(prefill | {"rows": rows}, values, None), user=user)


def request_from_form(form: FormData | dict[str, str]) -> dict[str, Any]:
    """The engine's request from the reconciliation form; a field the engine cannot take is named."""
    text = {key: str(value).strip() for key, value in form.items() if key != "csrf_token"}
    regimen: list[dict[str, Any]] = []
    numbers = _line_numbers(text)
    if len(numbers) > MAX_REGIMEN_LINES:
        raise RequestValidationError("regimen", f"more than {MAX_REGIMEN_LINES} medicines in one plan")
    for index in numbers:
        drug = text.get(f"drug_{index}", "")
        if not drug or text.get(f"include_{index}") != "on":
            continue
        line: dict[str, Any] = {"drug": drug}
        dose = _number(text.get(f"dose_{index}", ""), f"regimen[{len(regimen)}].dose")
        times = _number(text.get(f"times_{index}", ""), f"regimen[{len(regimen)}].times_per_day")
        if text.get(f"as_needed_{index}") == "on":
            line["as_needed"] = True
            line["scheduled_equivalent"] = {"dose": dose, **({"times_per_day": times} if times else {})}
        else:
            line["dose"] = dose
            if times is not None:
                line["times_per_day"] = times
        regimen.append(line)
    if not regimen:
        raise RequestValidationError("regimen", "tick at least one medicine the patient takes")
    request: dict[str, Any] = {
        "start_date": text.get("start_date", ""),
        "regimen": regimen,
        "goal": {"type": "discontinue"}
        if text.get("goal") != "target_daily_mme"
        else {"type": "target_daily_mme", "value": _number(text.get("target_mme", ""), "goal.value")},
        "pace": {
            "reduction": _number(text.get("pace_reduction", ""), "pace.reduction"),
            "unit": text.get("pace_unit", ""),
            "every_days": _number(text.get("pace_every_days", ""), "pace.every_days"),
        },
        "patient_factors": {name: text.get(name) == "on" for name in FACTORS},
    }
    if text.get("opioid_use_days"):
        request["opioid_use_days"] = _number(text["opioid_use_days"], "opioid_use_days")
    if text.get("market") in ("US", "UK"):
        request["market"] = text["market"]
    return request


def _number(value: str, field: str) -> int | float | None:
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise RequestValidationError(field, f"{value[:30]!r} is not a number") from exc
    return int(number) if number.is_integer() and abs(number) < 1e12 else number


@router.post("/patients/{patient_id}/plans")
async def create(request: Request, patient_id: str, user: CurrentUser) -> Response:
    form = await request.form()
    values = {
        key: str(value) for key, value in form.items() if key != "csrf_token" and isinstance(value, str)
    }
    ip, agent = client_of(request)
    try:
        taper_request = request_from_form(values)
        with store_of(request).session() as s:
            made = repo.create_plan(s, user, patient_id, taper_request, ip, agent)
    except RequestValidationError as exc:
        prefill = _prefill(request, user, patient_id)
        if prefill is None:
            return _not_found(request, user)
        return render(
            request, "plan_new.html", _form_context(prefill, values, exc), user=user, status_code=400
        )
    if made is None:
        return _not_found(request, user)
    return RedirectResponse(
        f"/patients/{made.patient_id}/plans/{made.id}", status_code=status.HTTP_303_SEE_OTHER
    )


def staircase(plan_view: repo.PlanView) -> Any:
    """The plan's daily MME as steps over time, in the same chart as the trajectory: four weeks of the
    dose now, then each step, the stop drawn for two weeks; the start marked."""
    plan = plan_view.plan
    start = plan.baseline.start_date
    steps = [ChartStep(start - dt.timedelta(days=28), start - dt.timedelta(days=1), plan.baseline.daily_mme)]
    for step in plan.steps:
        steps.append(
            ChartStep(
                step.start_date, step.end_date or step.start_date + dt.timedelta(days=14), step.daily_mme
            )
        )
    return trajectory_svg(
        steps,
        (),
        as_of=start - dt.timedelta(days=1),
        chart_id="staircase",
        window_days=28,
        as_of_label="plan starts",
        as_of_text=f"plan starts {start}",
    )


@router.get("/patients/{patient_id}/plans/{plan_id}")
def plan_page(request: Request, patient_id: str, plan_id: str, user: CurrentUser) -> Response:
    ip, agent = client_of(request)
    with store_of(request).session() as s:
        view = repo.plan_view(s, user, patient_id, plan_id, ip, agent)
        agreement = current_agreement(s, view.summary.patient_id) if view is not None else None
    if view is None:
        return _not_found(request, user)
    error = request.query_params.get("error")
    context = {
        "p": view,
        "chart": staircase(view),
        "error": error,
        "agreement": agreement,
        "key_messages": load_key_messages(),
    }
    return render(request, "plan.html", context, user=user)


@router.post("/patients/{patient_id}/plans/{plan_id}/acknowledge")
async def acknowledge(request: Request, patient_id: str, plan_id: str, user: CurrentUser) -> Response:
    form = await request.form()
    code, reason = str(form.get("warning", "")), str(form.get("reason", ""))
    ip, agent = client_of(request)
    try:
        with store_of(request).session() as s:
            done = repo.acknowledge_warning(s, user, patient_id, plan_id, code, reason, ip, agent)
    except RequestValidationError as exc:
        return _back_with(request, user, patient_id, plan_id, str(exc))
    if not done:
        return _not_found(request, user)
    return RedirectResponse(
        f"/patients/{patient_id}/plans/{plan_id}#warnings", status_code=status.HTTP_303_SEE_OTHER
    )


def _back_with(request: Request, user: Any, patient_id: str, plan_id: str, message: str) -> Response:
    ip, agent = client_of(request)
    with store_of(request).session() as s:
        view = repo.plan_view(s, user, patient_id, plan_id, ip, agent)
    if view is None:
        return _not_found(request, user)
    return render(
        request,
        "plan.html",
        {
            "p": view,
            "chart": staircase(view),
            "error": message,
            "agreement": None,
            "key_messages": load_key_messages(),
        },
        user=user,
        status_code=400,
    )


@router.post("/patients/{patient_id}/plans/{plan_id}/agree")
def agree(request: Request, patient_id: str, plan_id: str, user: CurrentUser) -> Response:
    ip, agent = client_of(request)
    try:
        with store_of(request).session() as s:
            agreed = repo.agree_plan(s, user, patient_id, plan_id, ip, agent)
    except RequestValidationError as exc:
        return _back_with(request, user, patient_id, plan_id, str(exc))
    if agreed is None:
        return _not_found(request, user)
    return RedirectResponse(f"/patients/{patient_id}/plans/{plan_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/patients/{patient_id}/plans/{plan_id}/handover.pdf")
def handover(request: Request, patient_id: str, plan_id: str, user: CurrentUser) -> Response:
    """The referral or handover note of a plan (`?to=…&reason=…`) with what the team holds; an export."""
    from taperwise.knowledge.program import load_intake_decisions
    from taperwise.reports.documents import handover_html
    from taperwise.store.intake import current_intake
    from taperwise.store.monitoring import monitoring_states

    ip, agent = client_of(request)
    try:
        to = clean_text("to", request.query_params.get("to", ""), 300)
        reason = clean_text("reason", request.query_params.get("reason", ""))
    except RequestValidationError as exc:  # refused, never cut: the note must say what was written
        return render(
            request,
            "error.html",
            {"title": "No handover note", "message": str(exc)},
            user=user,
            status_code=400,
        )
    with store_of(request).session() as s:
        view = repo.plan_view(s, user, patient_id, plan_id, ip, agent, action="export")
        if view is None:
            return _not_found(request, user)
        patient_number = view.summary.patient_id
        intake = current_intake(s, patient_number)
        agreement = current_agreement(s, patient_number)
        states = monitoring_states(s, patient_number, dt.date.today())
        alerts = open_alerts(s, patient_number)
    labels = {d.decision: d.label for d in load_intake_decisions()}
    extra = {
        "intake": f"{labels.get(intake.decision or '', '')} ({intake.decided_at:%Y-%m-%d})"
        if intake is not None and intake.decision
        else "",
        "agreement": f"{agreement.goals}; review every {agreement.review_interval_days} days"
        if agreement
        else "",
        "monitoring": [f"{m.label}: last {m.last_date or 'none recorded'}, next due {m.due}" for m in states],
        "alerts": "; ".join(alert.title for alert in alerts),
    }
    contact = Contact(clinician=user.display_name, patient=view.patient_label, recipient=to)
    html = handover_html(view.plan, contact, reason, extra)
    headers = {"Content-Disposition": f'inline; filename="handover-plan-{view.summary.id}.pdf"'}
    return Response(to_pdf(html), media_type="application/pdf", headers=headers)


@router.get("/patients/{patient_id}/plans/{plan_id}/{document}.pdf")
def document(request: Request, patient_id: str, plan_id: str, document: str, user: CurrentUser) -> Response:
    if document not in ("calendar", "letter"):
        return _not_found(request, user)
    ip, agent = client_of(request)
    with store_of(request).session() as s:
        view = repo.plan_view(s, user, patient_id, plan_id, ip, agent, action="export")
        patient = s.get(Patient, view.summary.patient_id) if view is not None else None
    if view is None or patient is None:
        return _not_found(request, user)
    contact = Contact(clinician=user.display_name, patient=view.patient_label)
    html = calendar_html(view.plan, contact) if document == "calendar" else letter_html(view.plan, contact)
    headers = {"Content-Disposition": f'inline; filename="{document}-plan-{view.summary.id}.pdf"'}
    return Response(to_pdf(html), media_type="application/pdf", headers=headers)


@router.get(
    "/api/patients/{patient_id}/plans/{plan_id}/fhir",
    tags=["api"],
    summary="The plan as a FHIR R4 Bundle: CarePlan and MedicationRequest proposals (audited as an export)",
)
def plan_fhir(request: Request, patient_id: str, plan_id: str, user: CurrentUser) -> Response:
    from fastapi.responses import JSONResponse

    from taperwise.exchange.fhir_plan import FhirExportError, plan_bundle
    from taperwise.web.errors import problem

    ip, agent = client_of(request)
    with store_of(request).session() as s:
        view = repo.plan_view(s, user, patient_id, plan_id, ip, agent, action="export")
        patient = s.get(Patient, view.summary.patient_id) if view is not None else None
    if view is None or patient is None:
        return problem(status.HTTP_404_NOT_FOUND, "There is no such plan in your organisations' records.")
    try:
        bundle = plan_bundle(
            view.plan,
            f"Patient/{patient.external_id}",
            status="active" if view.summary.status == "agreed" else "draft",
        )
    except FhirExportError as exc:
        return problem(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc))
    headers = {"Content-Disposition": f'attachment; filename="plan-{view.summary.id}.fhir.json"'}
    return JSONResponse(bundle, media_type="application/fhir+json", headers=headers)


def _step_on(view: repo.PlanView, day: dt.date) -> Any:
    current = view.plan.baseline
    for step in view.plan.steps:
        if step.start_date <= day:
            current = step
    return current


def _follow_up_prefill(view: repo.PlanView, results: dict[str, Any], day: dt.date) -> dict[str, str]:
    values: dict[str, str] = {"date": day.isoformat(), "preference": "continue"}
    step = _step_on(view, day)
    for index in range(len(view.plan.request.regimen)):
        doses = [a.dose for a in step.administrations if a.regimen_index == index]
        for position, dose in enumerate(doses):
            values[f"taken_{index}_{position}"] = format(dose.normalize(), "f")
    scores = {score.score_id: score for result in results.values() for score in result.scores}
    for field, score_id in (("cows", "cows_total"), ("sows", "sows_total"), ("peg", "peg_score")):
        if score_id in scores and scores[score_id].value is not None:
            values[field] = format(scores[score_id].value, "f")
    phq9 = results.get("phq9")
    item9 = phq9.answers.get("phq9_9") if phq9 is not None else None
    if isinstance(item9, int):
        values["phq9_item9"] = str(item9)
    return values


def _follow_up_rows(view: repo.PlanView, values: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for index, item in enumerate(view.plan.request.regimen):
        slots = sorted({int(key.split("_")[2]) for key in values if key.startswith(f"taken_{index}_")})
        rows.append({"index": index, "drug": item.drug, "slots": slots or [0]})
    return rows


def follow_up_from_form(values: dict[str, str], regimen_size: int) -> dict[str, Any]:
    """The engine's follow-up from the form; blank scores are left out (unknown, never 0)."""
    taken = []
    for index in range(regimen_size):
        doses = [
            _number(values[key], f"doses_taken[{index}]")
            for key in sorted(
                (k for k in values if k.startswith(f"taken_{index}_") and values[k] != ""),
                key=lambda k: int(k.split("_")[2]),
            )
        ]
        taken.append({"regimen_index": index, "doses": doses})
    follow_up: dict[str, Any] = {
        "date": values.get("date", ""),
        "doses_taken": taken,
        "oud_signs": values.get("oud_signs") == "on",
        "preference": values.get("preference", "continue"),
    }
    for field in ("cows", "sows", "phq9_item9", "peg"):
        if values.get(field, "") != "":
            follow_up[field] = _number(values[field], field)
    if values.get("note", "").strip():
        follow_up["note"] = values["note"].strip()
    if values.get("review_by", "").strip():
        follow_up["specialist_review"] = {
            "by": values["review_by"].strip(),
            "date": values.get("date", ""),
            "decision": values.get("review_decision", ""),
            "note": values.get("review_note", "").strip(),
        }
    return follow_up


def _follow_up_page(
    request: Request,
    user: Any,
    view: repo.PlanView,
    values: dict[str, str],
    error: RequestValidationError | None,
    code: int = 200,
) -> Response:
    context = {"p": view, "values": values, "rows": _follow_up_rows(view, values), "error": error}
    return render(request, "plan_follow_up.html", context, user=user, status_code=code)


@router.get("/patients/{patient_id}/plans/{plan_id}/follow-up")
def follow_up_form(request: Request, patient_id: str, plan_id: str, user: CurrentUser) -> Response:
    ip, agent = client_of(request)
    with store_of(request).session() as s:
        view = repo.plan_view(s, user, patient_id, plan_id, ip, agent)
        results = latest_results(s, view.summary.patient_id, "follow-up") if view is not None else {}
    if view is None:
        return _not_found(request, user)
    return _follow_up_page(request, user, view, _follow_up_prefill(view, results, dt.date.today()), None)


@router.post("/patients/{patient_id}/plans/{plan_id}/follow-up")
async def follow_up(request: Request, patient_id: str, plan_id: str, user: CurrentUser) -> Response:
    form = await request.form()
    values = {
        key: str(value) for key, value in form.items() if key != "csrf_token" and isinstance(value, str)
    }
    ip, agent = client_of(request)
    store = store_of(request)
    try:
        with store.session() as s:
            view = repo.plan_view(s, user, patient_id, plan_id, ip, agent)
            if view is None:
                return _not_found(request, user)
            visit = follow_up_from_form(values, len(view.plan.request.regimen))
            made = repo.record_follow_up(s, user, patient_id, plan_id, visit, ip, agent)
    except RequestValidationError as exc:
        with store.session() as s:
            view = repo.plan_view(s, user, patient_id, plan_id, ip, agent)
        if view is None:
            return _not_found(request, user)
        return _follow_up_page(request, user, view, values, exc, 400)
    if made is None:
        return _not_found(request, user)
    return RedirectResponse(
        f"/patients/{made.patient_id}/plans/{made.id}", status_code=status.HTTP_303_SEE_OTHER
    )
