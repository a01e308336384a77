"""The program's pages: assessments (forms saved as you go), their summary with the recommended modules,
safety alerts that stay until resolved, and the module library with clinician sign-off.

Every form works without JavaScript (an ordinary POST, then a redirect back to where the clinician was);
with htmx, a change in an instrument's form saves it at once and only that section is replaced, its
score updated. A refused answer writes nothing: the section comes back with what was entered and the
problem named at the item (400). All reads and writes go through `taperwise.store.program`, which checks
role and organisation and audits in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, status
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from taperwise.errors import KnowledgeError, RequestValidationError
from taperwise.knowledge.instruments import alert_rules, instrument_by_id, load_program_sources
from taperwise.knowledge.program import load_modules, load_templates, module_by_id, template_by_id
from taperwise.program.scoring import AnswerError
from taperwise.program.selection import assessment_values, recommend, session_plan
from taperwise.store import intake as intake_store
from taperwise.store import monitoring as monitoring_store
from taperwise.store import program as repo
from taperwise.store import team
from taperwise.store.models import User
from taperwise.web.auth import CurrentUser, client_of, store_of
from taperwise.web.rendering import render

router = APIRouter(include_in_schema=False)
_MARKDOWN = MarkdownIt("commonmark", {"html": False})  # module texts are ours, but never pass raw HTML


def _not_found(request: Request, user: Any, what: str = "record") -> Response:
    context = {
        "title": "Not found",
        "message": f"There is no such {what} in your organisations' records, or your role cannot open it.",
    }
    return render(request, "error.html", context, user=user, status_code=404)


def _see(url: str) -> Response:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


def do_now() -> dict[str, tuple[str, ...]]:
    """What to do now for each kind of safety alert, from the instrument data (shown with open alerts)."""
    return {alert_id: rule.do_now for alert_id, rule in alert_rules().items()}


def _fragment(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


@router.post("/patients/{patient_id}/assessments")
async def start(request: Request, patient_id: str, user: CurrentUser) -> Response:
    form = await request.form()
    kind = str(form.get("kind", "assessment"))
    ip, agent = client_of(request)
    try:
        with store_of(request).session() as s:
            started = repo.start_assessment(s, user, patient_id, kind, ip, agent)
    except RequestValidationError as exc:
        return render(
            request, "error.html", {"title": "Cannot start", "message": str(exc)}, user=user, status_code=400
        )
    if started is None:
        return _not_found(request, user, "patient")
    return _see(f"/patients/{started.patient_id}/assessments/{started.id}")


def _section(
    instrument_id: str,
    view: repo.AssessmentView,
    posted: dict[str, str] | None = None,
    error: AnswerError | RequestValidationError | None = None,
) -> dict[str, Any]:
    instrument = instrument_by_id(instrument_id)
    values = posted if posted is not None else dict(view.answers.get(instrument_id, {}))
    return {
        "instrument": instrument,
        "given": values,
        "result": view.results[instrument_id],
        "error": error,
        "error_item": getattr(error, "item_id", None) or getattr(error, "field", None),
    }


def _page_context(
    view: repo.AssessmentView, sections: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    built = {instrument.id: _section(instrument.id, view) for instrument in view.instruments}
    built.update(sections or {})
    return {
        "a": view,
        "sections": [built[instrument.id] for instrument in view.instruments],
        "sources": load_program_sources(),
        "do_now": do_now(),
        "back": _back(view),
    }


def _back(view: repo.AssessmentView) -> str:
    return f"/patients/{view.summary.patient_id}/assessments/{view.summary.id}"


@router.get("/patients/{patient_id}/assessments/{assessment_id}")
def assessment_page(request: Request, patient_id: str, assessment_id: str, user: CurrentUser) -> Response:
    ip, agent = client_of(request)
    with store_of(request).session() as s:
        view = repo.assessment_view(s, user, patient_id, assessment_id, ip, agent)
    if view is None:
        return _not_found(request, user, "assessment")
    return render(request, "assessment.html", _page_context(view), user=user)


@router.post("/patients/{patient_id}/assessments/{assessment_id}/instruments/{instrument_id}")
async def save(
    request: Request, patient_id: str, assessment_id: str, instrument_id: str, user: CurrentUser
) -> Response:
    form = await request.form()
    posted = {
        key: str(value) for key, value in form.items() if key != "csrf_token" and isinstance(value, str)
    }
    ip, agent = client_of(request)
    error: AnswerError | RequestValidationError | None = None
    try:
        instrument_by_id(instrument_id)
    except KnowledgeError:
        return _not_found(request, user, "instrument")
    store = store_of(request)
    try:
        with store.session() as s:
            saved = repo.save_answers(s, user, patient_id, assessment_id, instrument_id, posted, ip, agent)
    except (AnswerError, RequestValidationError) as exc:
        saved, error = None, exc
    with store.session() as s:
        view = repo.assessment_view(s, user, patient_id, assessment_id, ip, agent)
    if view is None or (saved is None and error is None):
        return _not_found(request, user, "assessment")
    if error is not None:
        section = _section(instrument_id, view, posted, error)
        if _fragment(request):
            context = {"s": section, "a": view, "do_now": do_now()}
            return render(request, "_instrument.html", context, user=user, status_code=400)
        return render(
            request,
            "assessment.html",
            _page_context(view, {instrument_id: section}),
            user=user,
            status_code=400,
        )
    if _fragment(request):
        raised = saved.raised if saved else ()
        context = {"s": _section(instrument_id, view), "a": view, "raised": raised, "do_now": do_now()}
        return render(request, "_instrument.html", context, user=user)
    return _see(f"/patients/{view.summary.patient_id}/assessments/{view.summary.id}#{instrument_id}")


@router.post("/patients/{patient_id}/assessments/{assessment_id}/complete")
def complete(request: Request, patient_id: str, assessment_id: str, user: CurrentUser) -> Response:
    ip, agent = client_of(request)
    with store_of(request).session() as s:
        done = repo.complete_assessment(s, user, patient_id, assessment_id, ip, agent)
    if done is None:
        return _not_found(request, user, "assessment")
    return _see(f"/patients/{done.patient_id}/assessments/{done.id}/summary")


def _summary_page(
    request: Request,
    user: Any,
    view: repo.AssessmentView,
    chosen: repo.ChosenProgram | None,
    template_id: str | None,
    error: RequestValidationError | None = None,
    posted: dict[str, str] | None = None,
) -> Response:
    mine = chosen if chosen is not None and chosen.assessment_id == view.summary.id else None
    wanted = template_id or (mine.template_id if mine else "ioc")
    try:
        template = template_by_id(wanted)
    except KnowledgeError:
        template = template_by_id("ioc")
    recommendation = recommend(assessment_values(view.results.values()))
    modules = mine.module_ids if mine else recommendation.module_ids
    left_out = {d["module_id"] for d in mine.deviations if d["change"] == "left out"} if mine else set()
    plan = session_plan(template, modules, excluded=left_out)
    context = {
        "a": view,
        "recommendation": recommendation,
        "plan": plan,
        "template": template,
        "templates": load_templates(),
        "sources": load_program_sources(),
        "modules": load_modules(),
        "instruments": {i.id: i for i in view.instruments},
        "do_now": do_now(),
        "back": _back(view) + "/summary",
        "chosen": mine,
        "error": error,
        "posted": posted or {},
        "chosen_ids": set(modules),
    }
    return render(request, "assessment_summary.html", context, user=user, status_code=400 if error else 200)


@router.get("/patients/{patient_id}/assessments/{assessment_id}/summary")
def summary(request: Request, patient_id: str, assessment_id: str, user: CurrentUser) -> Response:
    ip, agent = client_of(request)
    with store_of(request).session() as s:
        view = repo.assessment_view(s, user, patient_id, assessment_id, ip, agent)
        chosen = repo.current_program(s, view.summary.patient_id) if view is not None else None
    if view is None:
        return _not_found(request, user, "assessment")
    return _summary_page(request, user, view, chosen, request.query_params.get("template"))


@router.post("/patients/{patient_id}/assessments/{assessment_id}/program")
async def choose_program(
    request: Request, patient_id: str, assessment_id: str, user: CurrentUser
) -> Response:
    values = await _intake_form(request)
    include = [
        key.removeprefix("module_")
        for key, value in values.items()
        if key.startswith("module_") and value == "on"
    ]
    reasons = {
        key.removeprefix("reason_"): value for key, value in values.items() if key.startswith("reason_")
    }
    template_id = values.get("template", "ioc")
    ip, agent = client_of(request)
    store = store_of(request)
    try:
        with store.session() as s:
            saved = repo.save_program_choice(
                s, user, patient_id, assessment_id, template_id, include, reasons, ip, agent
            )
    except RequestValidationError as exc:
        with store.session() as s:
            view = repo.assessment_view(s, user, patient_id, assessment_id, ip, agent)
            chosen = repo.current_program(s, view.summary.patient_id) if view is not None else None
        if view is None:
            return _not_found(request, user, "assessment")
        return _summary_page(request, user, view, chosen, template_id, exc, values)
    if saved is None:
        return _not_found(request, user, "assessment")
    return _see(f"/patients/{patient_id}/assessments/{assessment_id}/summary#program-choice")


@router.post("/patients/{patient_id}/alerts/{alert_id}/resolve")
async def resolve(request: Request, patient_id: str, alert_id: str, user: CurrentUser) -> Response:
    form = await request.form()
    resolution = str(form.get("resolution", ""))
    back = str(form.get("back", ""))
    ip, agent = client_of(request)
    try:
        with store_of(request).session() as s:
            resolved = repo.resolve_alert(s, user, patient_id, alert_id, resolution, ip, agent)
    except RequestValidationError as exc:
        return render(
            request,
            "error.html",
            {"title": "The alert stays open", "message": str(exc)},
            user=user,
            status_code=400,
        )
    if resolved is None:
        return _not_found(request, user, "alert")
    target = (
        back if back.startswith(f"/patients/{patient_id}") and "//" not in back else f"/patients/{patient_id}"
    )
    return _see(target)


@router.get("/program/modules")
def modules_page(request: Request, user: CurrentUser) -> Response:
    with store_of(request).session() as s:
        statuses = repo.module_statuses(s)
    return render(
        request,
        "modules.html",
        {"statuses": statuses, "templates": load_templates(), "can_sign": repo.can_record_clinical(user)},
        user=user,
    )


@router.get("/program/modules/{module_id}")
def module_page(request: Request, module_id: str, user: CurrentUser) -> Response:
    try:
        module = module_by_id(module_id)
    except KnowledgeError:
        return _not_found(request, user, "module")
    with store_of(request).session() as s:
        state = next(status for status in repo.module_statuses(s) if status.module.id == module.id)
    sources = load_program_sources()
    context = {
        "m": module,
        "state": state,
        "can_sign": repo.can_record_clinical(user),
        "patient_html": Markup(_MARKDOWN.render(module.patient_text)),
        "clinician_html": Markup(_MARKDOWN.render(module.clinician_text)),
        "sources": [sources[source_id] for source_id in module.source_ids],
    }
    return render(request, "module.html", context, user=user)


@router.post("/program/modules/{module_id}/sign-off")
async def sign_off(request: Request, module_id: str, user: CurrentUser) -> Response:
    form = await request.form()
    note = str(form.get("note", ""))
    ip, agent = client_of(request)
    try:
        module_by_id(module_id)
    except KnowledgeError:
        return _not_found(request, user, "module")
    try:
        with store_of(request).session() as s:
            signed = repo.sign_off_module(s, user, module_id, note, ip, agent)
    except RequestValidationError as exc:
        return render(
            request,
            "error.html",
            {"title": "Not signed off", "message": str(exc)},
            user=user,
            status_code=400,
        )
    if signed is None:
        message = "Only a clinician, pharmacist or psychologist may sign off a module."
        return render(
            request, "error.html", {"title": "Not signed off", "message": message}, user=user, status_code=403
        )
    return _see(f"/program/modules/{module_id}")


def _patient_again(
    request: Request,
    user: Any,
    patient_id: str,
    form: str,
    error: RequestValidationError,
    values: dict[str, str],
) -> Response:
    """The patient page again, the refused form filled in as it was sent and its problem named (400)."""
    from taperwise.web.pages import patient_response  # the patient page imports this module

    return patient_response(request, user, patient_id, form_error=(form, str(error)), posted=values)


async def _intake_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items() if key != "csrf_token" and isinstance(value, str)}


PatientSave = Callable[[Session, User, str, dict[str, str], str | None, str | None], object]


async def _patient_form(
    request: Request, patient_id: str, user: User, save: PatientSave, form: str
) -> Response:
    """One program form of the patient page: saved, then back to its place on the page; refused, the page
    again with the form as sent and the problem named (400); not allowed, not found."""
    values = await _intake_form(request)
    ip, agent = client_of(request)
    try:
        with store_of(request).session() as s:
            saved = save(s, user, patient_id, values, ip, agent)
    except RequestValidationError as exc:
        return _patient_again(request, user, patient_id, form, exc, values)
    if not saved:
        return _not_found(request, user, "patient")
    return _see(f"/patients/{patient_id}#{form}-heading")


@router.post("/patients/{patient_id}/intake/checklist")
async def intake_checklist(request: Request, patient_id: str, user: CurrentUser) -> Response:
    return await _patient_form(request, patient_id, user, intake_store.save_checklist, "intake")


@router.post("/patients/{patient_id}/intake/decision")
async def intake_decision(request: Request, patient_id: str, user: CurrentUser) -> Response:
    return await _patient_form(request, patient_id, user, intake_store.decide, "intake")


@router.post("/patients/{patient_id}/review-status")
async def review_status(request: Request, patient_id: str, user: CurrentUser) -> Response:
    def save(
        s: Session, user: User, patient_id: str, values: dict[str, str], ip: str | None, agent: str | None
    ) -> object:
        return team.set_status(
            s, user, patient_id, values.get("status", ""), values.get("reason", ""), ip, agent
        )

    return await _patient_form(request, patient_id, user, save, "program")


@router.get("/program/outcomes")
def outcomes_page(request: Request, user: CurrentUser) -> Response:
    from taperwise.program.outcomes import success_rule
    from taperwise.store.outcomes import clinic_outcomes

    with store_of(request).session() as s:
        rows = clinic_outcomes(s, user)
    counts = {
        status: sum(1 for row in rows if row.outcome.status == status)
        for status in ("success", "not_met", "unknown")
    }
    context = {
        "rows": rows,
        "counts": counts,
        "rule": success_rule(),
        "can_see": repo.can_record_clinical(user),
    }
    return render(request, "outcomes.html", context, user=user)


@router.post("/patients/{patient_id}/monitoring")
async def monitoring_record(request: Request, patient_id: str, user: CurrentUser) -> Response:
    return await _patient_form(
        request, patient_id, user, _dated(monitoring_store.record_monitoring), "monitoring"
    )


@router.post("/patients/{patient_id}/agreement")
async def agreement_record(request: Request, patient_id: str, user: CurrentUser) -> Response:
    return await _patient_form(
        request, patient_id, user, _dated(monitoring_store.record_agreement), "agreement"
    )


def _dated(save: Callable[..., bool]) -> PatientSave:
    """A store function that also takes today's date (what may not lie in the future)."""

    def with_today(
        s: Session, user: User, patient_id: str, values: dict[str, str], ip: str | None, agent: str | None
    ) -> object:
        return save(s, user, patient_id, values, ip, agent, dt.date.today())

    return with_today
