"""A CDS Hooks call read and checked: the fields the spec requires, for the service's hook.

Anything malformed is refused with `CdsRequestError`, naming the field (the web layer answers 400): a
body that is not an object, another hook than the service's, a missing `hookInstance` or `patientId`,
draft orders that are not a Bundle, selections not among the draft orders, a prefetch value that is
neither a resource, a Bundle nor null, `fhirAuthorization` without `fhirServer`.

Prefetch values are kept as sent: a key the EHR did not send is absent (the service may read it from
the FHIR server), a key sent as null means "no data", and an OperationOutcome in place of a value means
the EHR could not fetch it (kept as a problem, treated as absent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from taperwise.errors import TaperwiseError

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR R4 id
ORDER_HOOKS = ("order-select", "order-sign")
Resource = dict[str, Any]


class CdsRequestError(TaperwiseError):
    """The call is malformed; the message names the field (safe to return to the EHR)."""


@dataclass(frozen=True)
class HookCall:
    hook: str
    hook_instance: str
    patient_id: str
    user_id: str | None
    encounter_id: str | None
    draft_orders: tuple[Resource, ...]
    selections: tuple[str, ...]  # "MedicationRequest/103", order-select only
    prefetch: Mapping[str, Resource | None]  # key -> resource, Bundle, or None ("no data")
    fhir_server: str | None
    fhir_token: str | None
    problems: tuple[str, ...] = field(default=())  # prefetch keys the EHR could not fill, and why

    def is_selected(self, resource: Resource) -> bool:
        """Whether a draft order is one the user just selected (order-select), or any draft (order-sign)."""
        if self.hook != "order-select":
            return True
        return f"{resource.get('resourceType')}/{resource.get('id')}" in self.selections


def _text(value: object, name: str, *, required: bool = True, limit: int = 500) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CdsRequestError(f"{name} is required (a string)")
    if len(value) > limit:
        raise CdsRequestError(f"{name} is longer than {limit} characters")
    return value


def _resources(bundle: object, name: str) -> tuple[Resource, ...]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise CdsRequestError(f"{name} must be a FHIR Bundle")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise CdsRequestError(f"{name}.entry must be a list")
    resources = []
    for number, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise CdsRequestError(f"{name}.entry[{number}] holds no FHIR resource")
        resources.append(resource)
    return tuple(resources)


def _prefetch(value: object) -> tuple[dict[str, Resource | None], tuple[str, ...]]:
    if value is None:
        return {}, ()
    if not isinstance(value, dict):
        raise CdsRequestError("prefetch must be an object of prefetch keys")
    kept: dict[str, Resource | None] = {}
    problems = []
    for key, resource in value.items():
        if resource is None:
            kept[str(key)] = None
            continue
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise CdsRequestError(f"prefetch.{key} must be a FHIR resource, a Bundle or null")
        if resource["resourceType"] == "OperationOutcome":
            issues = resource.get("issue") or []
            said = "; ".join(
                str(issue.get("diagnostics") or issue.get("code") or "")
                for issue in issues
                if isinstance(issue, dict)
            )
            problems.append(f"prefetch {key}: the EHR could not fetch it ({said or 'OperationOutcome'})")
            continue
        kept[str(key)] = resource
    return kept, tuple(problems)


def parse_call(body: object, hook: str) -> HookCall:
    """The call for a service of `hook`, or CdsRequestError naming what is wrong."""
    if not isinstance(body, dict):
        raise CdsRequestError("the request body must be a JSON object")
    if body.get("hook") != hook:
        raise CdsRequestError(f"hook must be {hook!r} for this service (got {str(body.get('hook'))[:40]!r})")
    hook_instance = _text(body.get("hookInstance"), "hookInstance", limit=128)
    context = body.get("context")
    if not isinstance(context, dict):
        raise CdsRequestError("context is required (an object)")
    patient_id = _text(context.get("patientId"), "context.patientId", limit=64)
    assert patient_id is not None
    assert hook_instance is not None
    if not FHIR_ID.match(patient_id):
        raise CdsRequestError("context.patientId is not a FHIR id (letters, digits, '-', '.'; 64 at most)")
    user_id = _text(context.get("userId"), "context.userId", required=False, limit=200)
    encounter_id = _text(context.get("encounterId"), "context.encounterId", required=False, limit=200)
    drafts: tuple[Resource, ...] = ()
    selections: tuple[str, ...] = ()
    if hook in ORDER_HOOKS:
        drafts = _resources(context.get("draftOrders"), "context.draftOrders")
        if hook == "order-select":
            raw = context.get("selections")
            if not isinstance(raw, list) or not raw or not all(isinstance(item, str) for item in raw):
                raise CdsRequestError("context.selections is required (a list of 'Type/id' of draft orders)")
            drafted = {f"{r.get('resourceType')}/{r.get('id')}" for r in drafts}
            missing = [item for item in raw if item not in drafted]
            if missing:
                raise CdsRequestError(f"context.selections names {missing[0][:80]!r}, not in draftOrders")
            selections = tuple(raw)
    prefetch, problems = _prefetch(body.get("prefetch"))
    server = _text(body.get("fhirServer"), "fhirServer", required=False, limit=500)
    token = None
    authorization = body.get("fhirAuthorization")
    if authorization is not None:
        if server is None:
            raise CdsRequestError("fhirAuthorization needs fhirServer (CDS Hooks: the server it is for)")
        if not isinstance(authorization, dict):
            raise CdsRequestError("fhirAuthorization must be an object")
        token = _text(authorization.get("access_token"), "fhirAuthorization.access_token", limit=8000)
    return HookCall(
        hook=hook,
        hook_instance=hook_instance,
        patient_id=patient_id,
        user_id=user_id,
        encounter_id=encounter_id,
        draft_orders=drafts,
        selections=selections,
        prefetch=prefetch,
        fhir_server=server,
        fhir_token=token,
        problems=problems,
    )
