"""The CDS Hooks 2.0 services: discovery, the three hooks, feedback, and the override report.

- `GET /cds-services`: the services (knowledge/data/cds/services.json) with their prefetch templates.
- `POST /cds-services/{id}`: the EHR's JWT checked (`cds_auth`; refused 401 without a valid one, unless
  `taperwise serve --cds-no-auth`, which exists only in developer mode); the call read (400 naming the
  field); the prefetch completed from the EHR's FHIR server when keys are missing and access was given
  (412 when the prescriptions can be had neither way); the cards computed (`taperwise.cds`), recorded
  with a uuid, and the patient's record read audited under the EHR's name.
- `POST /cds-services/{id}/feedback`: the EHR's report of accepted and overridden cards, recorded.
- `GET /cds/overrides` (page) and `GET /api/cds/overrides` (JSON): per card, how often it was shown,
  accepted and overridden, with the reasons — counts only, for any signed-in role.

These endpoints never read the session cookie: the EHR authenticates every call with its JWT, so the
cookie-based CSRF check does not apply to them (csrf.py exempts the prefix).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from taperwise.cds.calls import CdsRequestError, HookCall, parse_call
from taperwise.cds.cards import LinkBuilder, cards_for
from taperwise.cds.exposure import hook_exposure
from taperwise.cds.fhir_reads import FhirReadError, read_prefetch
from taperwise.errors import RequestValidationError
from taperwise.exposure.compiled import CompiledMme
from taperwise.knowledge.cds import CardRules, CdsServices, load_card_rules, load_cds_services
from taperwise.knowledge.registry import RegistrySettings, load_registry_settings
from taperwise.plausible import DateRange
from taperwise.store import cds as store_cds
from taperwise.store.cds import CdsPatientRecord, IssuedCard
from taperwise.store.models import User
from taperwise.web import errors
from taperwise.web.auth import CurrentUser, store_of
from taperwise.web.cds_auth import CdsAuthError, CdsTokenValidator, Issuer, load_issuers
from taperwise.web.logs import LOGGER
from taperwise.web.rendering import render

PREFIX = "/cds-services"
MAX_BODY_BYTES = 5_000_000
REQUIRED_PREFETCH = ("medicationRequests",)
DEV_ISSUER = "development (--cds-no-auth)"
router = APIRouter(tags=["cds-hooks"])
NO_AUTH_WARNING = (
    "CDS HOOKS AUTHENTICATION IS OFF (--cds-no-auth): any caller can ask about any patient. "
    "This is for a developer's machine only; never expose this server."
)


class CdsConfigError(Exception):
    """The CDS Hooks services cannot start as configured (named in the message)."""


@dataclass
class CdsRuntime:
    """What the services need, built once: the trusted issuers, and (on first use, or at start-up by
    `warm()`) the compiled per-row MME."""

    issuers: dict[str, Issuer]
    no_auth: bool
    dev_organisation: str | None = None
    public_url: str | None = None
    validator: CdsTokenValidator | None = None
    services: CdsServices = field(default_factory=load_cds_services)
    rules: CardRules = field(default_factory=load_card_rules)
    settings: RegistrySettings = field(default_factory=load_registry_settings)

    def __post_init__(self) -> None:
        if self.issuers:
            self.validator = CdsTokenValidator(self.issuers)

    def mme(self) -> CompiledMme:
        """The compiled per-row MME for today's plausible date range (it moves with the date)."""
        return shared_mme(DateRange.from_environment())

    def warm(self) -> None:
        self.mme()


@lru_cache(maxsize=2)
def shared_mme(dates: DateRange) -> CompiledMme:
    """One compiled per-row MME per process and date range, shared by every app the process serves
    (the range's latest date moves with today's: yesterday's is kept while calls still hold it)."""
    return CompiledMme(dates=dates)


def configure(issuers_file: str | None, *, no_auth: bool, dev_mode: bool, dev_organisation: str | None,
              public_url: str | None) -> CdsRuntime:  # fmt: skip
    """The runtime for `create_app`: `no_auth` is refused outside developer mode, and logged loudly."""
    if no_auth and not dev_mode:
        raise CdsConfigError("--cds-no-auth is for a developer's machine only: it needs TAPERWISE_DEV=1")
    issuers: dict[str, Issuer] = {}
    if issuers_file:
        try:
            issuers = load_issuers(Path(issuers_file))
        except CdsAuthError as exc:
            raise CdsConfigError(str(exc)) from exc
    if no_auth:
        logging.getLogger(LOGGER).warning(NO_AUTH_WARNING)
    return CdsRuntime(issuers, no_auth, dev_organisation if no_auth else None, public_url)


def runtime_of(request: Request) -> CdsRuntime:
    runtime: CdsRuntime = request.app.state.cds
    return runtime


def _problem(code: int, detail: str) -> JSONResponse:
    return errors.problem(code, detail)


@router.get(PREFIX, summary="CDS Hooks discovery: the services and their prefetch templates")
def discovery(request: Request) -> JSONResponse:
    runtime = runtime_of(request)
    services = [
        {"hook": s.hook, "title": s.title, "description": s.description, "id": s.id,
         "prefetch": dict(runtime.services.prefetch)}
        for s in runtime.services.services
    ]  # fmt: skip
    return JSONResponse({"services": services})


@dataclass(frozen=True)
class Caller:
    issuer: str
    organisation: str | None


def _service_url(request: Request, runtime: CdsRuntime, path: str) -> str:
    base = runtime.public_url or str(request.base_url).rstrip("/")
    return base + path


def _authenticate(request: Request, runtime: CdsRuntime, path: str) -> Caller:
    if runtime.no_auth:
        logging.getLogger(LOGGER).warning("unauthenticated CDS Hooks call to %s (--cds-no-auth)", path)
        return Caller(DEV_ISSUER, runtime.dev_organisation)
    if runtime.validator is None:
        raise CdsAuthError(
            "this service trusts no EHR yet: configure TAPERWISE_CDS_ISSUERS (docs/cds-hooks.md)"
        )
    claims = runtime.validator.validate(
        request.headers.get("authorization"), _service_url(request, runtime, path)
    )
    issuer = runtime.issuers[str(claims["iss"])]
    return Caller(issuer.iss, issuer.organisation)


async def _json_body(request: Request) -> object:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise CdsRequestError(f"the request is larger than {MAX_BODY_BYTES:,} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise CdsRequestError(f"the request is larger than {MAX_BODY_BYTES:,} bytes")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CdsRequestError("the request body is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise CdsRequestError(f"the request body is not JSON ({exc.msg} at line {exc.lineno})") from exc


def _complete_prefetch(call: HookCall, runtime: CdsRuntime, caller: Caller) -> tuple[HookCall, list[str]]:
    """The call with missing prefetch keys read from the FHIR server (authenticated calls only)."""
    templates = runtime.services.prefetch
    missing = [key for key in templates if key not in call.prefetch]
    notes: list[str] = []
    if not missing:
        return call, notes
    if call.fhir_server and call.fhir_token and caller.issuer != DEV_ISSUER:
        fetched = read_prefetch(call, templates, missing)
        merged = {**call.prefetch, **fetched}
        return replace(call, prefetch=merged), notes
    required = [key for key in missing if key in REQUIRED_PREFETCH]
    if required:
        raise FhirReadError(
            f"prefetch {', '.join(required)} was not sent and the call gave no FHIR server access to read it"
        )
    notes.extend(f"prefetch {key} not sent: not counted" for key in missing if key.startswith("medication"))
    return call, notes


def _link(request: Request, runtime: CdsRuntime) -> LinkBuilder:
    base = runtime.public_url or str(request.base_url).rstrip("/")

    def link_to(kind: str, record: CdsPatientRecord) -> str | None:
        if kind == "plan" and record.agreed_plan_id is not None:
            return f"{base}/patients/{record.patient_id}/plans/{record.agreed_plan_id}"
        if kind == "intake":
            return f"{base}/patients/{record.patient_id}#intake-heading"
        return f"{base}/patients/{record.patient_id}"

    return link_to


@router.post(PREFIX + "/{service_id}", summary="A CDS Hooks call: cards for this patient and these orders")
async def call_service(request: Request, service_id: str) -> Response:
    runtime = runtime_of(request)
    service = runtime.services.by_id(service_id)
    if service is None:
        return _problem(
            status.HTTP_404_NOT_FOUND, f"no CDS service {service_id[:64]!r} here (see GET {PREFIX})"
        )
    try:
        caller = _authenticate(request, runtime, f"{PREFIX}/{service_id}")
    except CdsAuthError as exc:
        return _problem(status.HTTP_401_UNAUTHORIZED, f"CDS Hooks call refused: {exc}")
    try:
        call = parse_call(await _json_body(request), service.hook)
        call, notes = _complete_prefetch(call, runtime, caller)
    except CdsRequestError as exc:
        return _problem(status.HTTP_400_BAD_REQUEST, str(exc))
    except FhirReadError as exc:
        return _problem(status.HTTP_412_PRECONDITION_FAILED, str(exc))
    cards = await run_in_threadpool(_cards, request, runtime, service_id, call, caller, notes)
    return JSONResponse({"cards": cards})


def _cards(
    request: Request, runtime: CdsRuntime, service_id: str, call: HookCall, caller: Caller, notes: list[str]
) -> list[dict[str, Any]]:
    service = runtime.services.by_id(service_id)
    assert service is not None
    mme = runtime.mme()
    exposure = hook_exposure(call, mme, runtime.rules, dt.date.today())
    if notes or call.problems:
        exposure = replace(exposure, problems=(*call.problems, *notes, *exposure.problems))
    with store_of(request).session() as s:
        organisation = store_cds.organisation_id(s, caller.organisation)
        record = store_cds.cds_patient_record(s, organisation, call.patient_id, caller.issuer, service_id)
        cards = cards_for(
            call, service, exposure, runtime.rules, runtime.settings, record, _link(request, runtime)
        )
        issued = [
            IssuedCard(c["uuid"], c["source"]["topic"]["code"], c["indicator"], c["summary"]) for c in cards
        ]
        store_cds.record_cards(
            s,
            issued,
            service_id=service_id, hook_instance=call.hook_instance, issuer=caller.issuer,
            organisation=organisation, fhir_patient_id=call.patient_id, rules_version=runtime.rules.version,
        )  # fmt: skip
    return cards


@router.post(PREFIX + "/{service_id}/feedback", summary="CDS Hooks feedback: cards accepted or overridden")
async def feedback(request: Request, service_id: str) -> Response:
    runtime = runtime_of(request)
    if runtime.services.by_id(service_id) is None:
        return _problem(status.HTTP_404_NOT_FOUND, f"no CDS service {service_id[:64]!r} here")
    try:
        caller = _authenticate(request, runtime, f"{PREFIX}/{service_id}/feedback")
    except CdsAuthError as exc:
        return _problem(status.HTTP_401_UNAUTHORIZED, f"CDS Hooks feedback refused: {exc}")
    try:
        body = await _json_body(request)
        with store_of(request).session() as s:
            recorded = store_cds.record_feedback(s, service_id, body, caller.issuer)
    except CdsRequestError as exc:
        return _problem(status.HTTP_400_BAD_REQUEST, str(exc))
    except RequestValidationError as exc:
        return _problem(status.HTTP_400_BAD_REQUEST, str(exc))
    return JSONResponse({"recorded": recorded})


def _report_rows(request: Request, user: User, since: dt.date | None) -> list[dict[str, Any]]:
    with store_of(request).session() as s:
        rows = store_cds.override_report(s, user, since)
    return [
        {"card": row.rule_id, "shown": row.shown, "accepted": row.accepted, "overridden": row.overridden,
         "override_rate": row.override_rate, "reasons": [{"reason": r, "count": n} for r, n in row.reasons]}
        for row in rows
    ]  # fmt: skip


def _since(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise RequestValidationError("since", f"{value[:20]!r} is not a date (YYYY-MM-DD)") from exc


@router.get("/api/cds/overrides", tags=["api"], summary="CDS Hooks cards: shown, accepted, overridden")
def overrides_api(request: Request, user: CurrentUser, since: str | None = None) -> JSONResponse:
    return JSONResponse({"since": since, "cards": _report_rows(request, user, _since(since))})


@router.get("/cds/overrides", summary="The CDS Hooks override report")
def overrides_page(request: Request, user: CurrentUser, since: str | None = None) -> Response:
    rows = _report_rows(request, user, _since(since))
    rules = runtime_of(request).rules
    titles = {card.id: card.title for card in rules.cards}
    return render(request, "cds_overrides.html", {"rows": rows, "titles": titles, "since": since}, user=user)
