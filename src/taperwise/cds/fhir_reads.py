"""FHIR reads against the EHR's server when a call lacks a prefetch key (CDS Hooks "FHIR Resource Access").

Only for an authenticated call that gave `fhirServer` and `fhirAuthorization`: the service reads the
prefetch template, with the call's context filled in, using the access token it was given, and follows a
searchset's `next` links on the same server (never elsewhere). The server must be https, except on the
loopback interface (a test's or a developer's own server). Each read has a short timeout: a hook answers
in well under a second or not at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from taperwise.cds.calls import HookCall, Resource

MAX_PAGES = 10
TIMEOUT_SECONDS = 3.0
CONTEXT_TOKENS = ("patientId", "userId", "encounterId")


class FhirReadError(Exception):
    """A read the service needed failed; the message says which and why (no token in it)."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_server(url: str) -> str:
    """The server's base URL without a trailing slash, refused unless https (or http on loopback)."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname or "")):
        return url.rstrip("/")
    raise FhirReadError(
        f"fhirServer {url[:100]!r} is not https: taperwise reads patient data only over https"
    )


def render(template: str, call: HookCall) -> str:
    """A prefetch template with the call's context tokens filled in."""
    values = {
        "patientId": call.patient_id,
        "userId": call.user_id or "",
        "encounterId": call.encounter_id or "",
    }
    text = template
    for token in CONTEXT_TOKENS:
        text = text.replace("{{context." + token + "}}", values[token])
    if call.user_id and "/" in call.user_id:
        kind, _, ident = call.user_id.partition("/")
        text = text.replace("{{user" + kind + "Id}}", ident)
    if "{{" in text:
        raise FhirReadError(f"prefetch template {template!r} has a token this call cannot fill")
    return text


def read_prefetch(
    call: HookCall, templates: Mapping[str, str], keys: list[str]
) -> dict[str, Resource | None]:
    """The resources of the prefetch `keys` read from the call's FHIR server (a searchset's pages joined
    into one Bundle). Raises FhirReadError when the call gave no access or a read fails."""
    if not call.fhir_server or not call.fhir_token:
        raise FhirReadError("the call sent neither these prefetch keys nor fhirServer with fhirAuthorization")
    base = check_server(call.fhir_server)
    headers = {"Authorization": f"Bearer {call.fhir_token}", "Accept": "application/fhir+json"}
    found: dict[str, Resource | None] = {}
    with httpx.Client(timeout=TIMEOUT_SECONDS, headers=headers, follow_redirects=False) as client:
        for key in keys:
            found[key] = _read(client, base, render(templates[key], call), key)
    return found


def _read(client: httpx.Client, base: str, query: str, key: str) -> Resource | None:
    url: str | None = f"{base}/{query.lstrip('/')}"
    entries: list[Any] = []
    first: Resource | None = None
    for _ in range(MAX_PAGES):
        if url is None:
            break
        try:
            response = client.get(url)
        except httpx.HTTPError as exc:
            raise FhirReadError(f"reading {key} from the FHIR server failed ({type(exc).__name__})") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise FhirReadError(f"reading {key} from the FHIR server failed (HTTP {response.status_code})")
        try:
            resource = response.json()
        except ValueError as exc:
            raise FhirReadError(f"the FHIR server's answer for {key} is not JSON") from exc
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise FhirReadError(f"the FHIR server's answer for {key} is not a FHIR resource")
        if resource["resourceType"] != "Bundle":
            return resource
        first = first or resource
        entries.extend(resource.get("entry") or [])
        url = _next(resource, base)
    if first is None:
        return None
    return {"resourceType": "Bundle", "type": first.get("type", "searchset"), "entry": entries}


def _next(bundle: Resource, base: str) -> str | None:
    """The next page's URL, when it is on the same server (a link elsewhere is not followed)."""
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            url: str = link["url"]
            return url if url.startswith(base + "/") or url.startswith(base + "?") else None
    return None
