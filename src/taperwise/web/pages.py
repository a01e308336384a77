"""The HTML pages: the worklist and the patient's picture (login lives in `auth`).

Server-rendered and complete without JavaScript: the worklist's filters and the patient page's
prescription filters are GET forms, so a filter change is an ordinary page load; with htmx present the
same request returns only the results fragment (`HX-Request` header) and the address bar follows. Every
patient page, fragment or whole, goes through the store's `patient_view`, which checks the organisation
and writes the audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import urlencode

from fastapi import APIRouter, Request, status
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from taperwise.knowledge.program import load_intake_decisions
from taperwise.registry_schema import label
from taperwise.store import monitoring, team
from taperwise.store import program as program_store
from taperwise.store.intake import current_intake, open_intakes
from taperwise.store.models import Patient, User
from taperwise.store.outcomes import PatientOutcome, patient_outcome
from taperwise.store.plans import patient_plans
from taperwise.store.program import can_record_clinical
from taperwise.store.worklist import current_metadata, patient_view
from taperwise.web.auth import CurrentUser, client_of, store_of
from taperwise.web.charts import score_chart_svg, trajectory_svg
from taperwise.web.filters import FILTER_NAMES, FilterError, WorklistFilters
from taperwise.web.picture import harm_window_days, intake_checklist, label_values, picture_of
from taperwise.web.program_pages import do_now
from taperwise.web.rendering import render
from taperwise.web.rx_filters import prescription_table

router = APIRouter(include_in_schema=False)

FILTER_LABELS = {
    "high_dose_90": "≥ 90 MME/day (or unknown)",
    "benzo": "Benzodiazepine overlap",
    "multi_provider": "Many prescribers",
    "new_prescriber": "New prescriber",
}
assert set(FILTER_LABELS) == set(FILTER_NAMES)


def _fragment(request: Request) -> bool:
    """An htmx request for a part of the page (not htmx restoring a whole page from history)."""
    headers = request.headers
    return headers.get("HX-Request") == "true" and headers.get("HX-History-Restore-Request") != "true"


@router.get("/")
def home(user: CurrentUser) -> Response:
    return RedirectResponse("/worklist", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/worklist")
def worklist_page(request: Request, user: CurrentUser) -> Response:
    fragment = request.headers.get("HX-Request") == "true"
    template = "_worklist_results.html" if fragment else "worklist.html"
    try:
        filters = WorklistFilters.parse(dict(request.query_params))
    except FilterError as exc:
        context = {
            "filters": WorklistFilters(),
            "labels": FILTER_LABELS,
            "page": None,
            "error": str(exc),
            "urlencode": urlencode,
            "flags": {},
            "intakes": (),
            "review": {},
            "due": (),
            "monitoring_due": (),
        }
        return render(request, template, context, user=user, status_code=400)
    with store_of(request).session() as s:
        page = filters.run(s, user, client=client_of(request))
        metadata = current_metadata(s, user)
        intakes = open_intakes(s, user)
        review = team.statuses(s, [row.patient_id for row in page.items]) if can_record_clinical(user) else {}
        due = team.due_follow_ups(s, user, dt.date.today())
        monitoring_due = monitoring.due_monitoring(s, user, dt.date.today())
    values = label_values(metadata)
    names = ("high_dose_50", "high_dose_90", "avg_daily_mme_90d", "max_daily_mme_90d")
    flags = {name: label(name, values) for name in names} | {"harm_days": str(harm_window_days(metadata))}
    context = {
        "filters": filters,
        "labels": FILTER_LABELS | {"high_dose_90": flags["high_dose_90"] + " (or unknown)"},
        "page": page,
        "error": None,
        "urlencode": urlencode,
        "flags": flags,
        "intakes": intakes,
        "review": review,
        "due": due,
        "monitoring_due": monitoring_due,
    }
    return render(request, template, context, user=user)


@router.get("/patients/{patient_id}")
def patient_page(request: Request, patient_id: str, user: CurrentUser) -> Response:
    return patient_response(request, user, patient_id)


def patient_response(
    request: Request,
    user: User,
    patient_id: str,
    *,
    form_error: tuple[str, str] | None = None,
    posted: Mapping[str, str] | None = None,
) -> Response:
    """The patient page; after a refused program form (`form_error`: which form, the problem) it comes
    back with what was entered (`posted`) and the problem named, status 400 — nothing typed is lost."""
    ip, agent = client_of(request)
    program: dict[str, object] | None = None
    with store_of(request).session() as s:
        view = patient_view(s, user, patient_id, ip, agent)
        if view is not None and program_store.can_record_clinical(user):
            patient = s.get(Patient, view.patient_id)
            assert patient is not None
            program = {
                "assessments": program_store.patient_assessments(s, user, patient),
                "alerts": program_store.open_alerts(s, view.patient_id),
                "plans": patient_plans(s, patient.id),
                "do_now": do_now(),
                "intake": current_intake(s, patient.id),
                "checklist": intake_checklist(),
                "decisions": {d.decision: d for d in load_intake_decisions()},
                "review": team.statuses(s, [patient.id])[patient.id],
                "outcome": patient_outcome(s, patient),
                "chosen": program_store.current_program(s, patient.id),
                "timeline": team.program_timeline(s, patient.id),
                "monitoring": monitoring.monitoring_states(s, patient.id, dt.date.today()),
                "agreement": monitoring.current_agreement(s, patient.id),
                "today": dt.date.today(),
                "errors": dict([form_error]) if form_error else {},
                "posted": dict(posted or {}),
            }
    if view is None:
        # The same answer for "no such patient" and "another organisation's patient": existence is not
        # disclosed. The refusal itself is in the audit log.
        context = {
            "title": "Patient not found",
            "message": "There is no patient with this number in your organisations' registry.",
        }
        return render(request, "error.html", context, user=user, status_code=404)
    # The prescription table's filters (?prescriber=…&from=…): checked against this viewer's own rows;
    # an unusable value shows every prescription with a message, and the read is audited either way.
    table = prescription_table(view.prescriptions, dict(request.query_params))
    code = status.HTTP_400_BAD_REQUEST if table.error or form_error else status.HTTP_200_OK
    if _fragment(request):
        return render(request, "_prescriptions.html", {"t": table, "v": view}, user=user, status_code=code)
    picture = picture_of(view)
    as_of = view.snapshot.as_of if view.snapshot is not None else None
    started = program["outcome"].program_start if program is not None else None  # type: ignore[attr-defined]
    chart = trajectory_svg(picture.steps, picture.marks, as_of=as_of, thresholds=picture.thresholds,
                           window_days=picture.lookback_days, program_start=started)  # fmt: skip
    if program is not None:
        program["score_charts"] = _score_charts(program["outcome"])  # type: ignore[arg-type]
    page = {"p": picture, "v": view, "chart": chart, "t": table, "program": program}
    return render(request, "patient.html", page, user=user, status_code=code)


def _score_charts(outcome: PatientOutcome) -> list[tuple[str, Markup]]:
    """PEG and PHQ-9 over the patient's assessments, as pictures beside the table of the same numbers."""
    peg = [(m.date, m.peg) for m in outcome.measures if m.peg is not None]
    phq9 = [(m.date, m.phq9) for m in outcome.measures if m.phq9 is not None]
    charts = []
    if peg:
        title = "PEG over time (0–10; higher is worse)"
        charts.append((title, score_chart_svg(peg, Decimal(10), title, chart_id="peg-chart")))
    if phq9:
        title = "PHQ-9 over time (0–27; dashed at 10, moderate)"
        charts.append(
            (title, score_chart_svg(phq9, Decimal(27), title, chart_id="phq9-chart", bands=(Decimal(10),)))
        )
    return charts
