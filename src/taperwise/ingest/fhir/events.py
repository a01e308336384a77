"""Patients, and the harm events watched after tapering (overdose, emergency visit, crisis, death).

Which codes mean which event is data: ``knowledge/data/events/harm-codes.csv``, each row with its
source, loaded by `taperwise.knowledge.events` (the OMOP reader uses the same value set). A code is
matched on its code system and its code with dots removed and in upper case, so ``T40.2X1A`` and
``T402X1A`` are the same code. Conditions and Observations that are ``entered-in-error`` or ``refuted``
did not happen and make no event. ``sex`` uses FHIR's own words (`taperwise.ingest.conventions`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from taperwise.ingest.conventions import sex_word
from taperwise.ingest.fhir.context import IngestRun, Place
from taperwise.ingest.fhir.dates import day_of, first_day, period_start
from taperwise.ingest.fhir.references import Resource
from taperwise.knowledge.events import ACTCODE, ICD10, ICD10CM, SNOMED, HarmCode, code_key, load_harm_codes

# FHIR code system URIs → the short names of the shared value set (the same as OMOP vocabulary ids).
CODE_SYSTEMS = {
    "http://hl7.org/fhir/sid/icd-10-cm": ICD10CM,
    "http://hl7.org/fhir/sid/icd-10": ICD10,
    "http://snomed.info/sct": SNOMED,
    "http://terminology.hl7.org/CodeSystem/v3-ActCode": ACTCODE,
    "http://hl7.org/fhir/v3/ActCode": ACTCODE,
}
NOT_HAPPENED = frozenset({"entered-in-error", "refuted", "cancelled"})


def _matches(concept: object) -> Iterator[HarmCode]:
    if not isinstance(concept, Mapping):
        return
    for coding in concept.get("coding") or []:
        if not isinstance(coding, Mapping):
            continue
        system = CODE_SYSTEMS.get(str(coding.get("system")))
        code = coding.get("code")
        if system and isinstance(code, str):
            found = load_harm_codes().get(code_key(system, code))
            if found is not None:
                yield found


def _status(resource: Mapping[str, Any], name: str) -> str:
    value = resource.get(name)
    if isinstance(value, Mapping):
        codes = [c.get("code") for c in value.get("coding") or [] if isinstance(c, Mapping)]
        return str(codes[0]) if codes else ""
    return str(value or "")


def _emit(
    run: IngestRun,
    place: Place,
    resource: Resource,
    patient: str | None,
    day: str | None,
    found: list[HarmCode],
) -> None:
    if not found:
        return
    record = str(resource.get("id") or "")
    if not patient:
        run.report(
            place,
            record,
            "missing_subject",
            f"{resource['resourceType']} with harm code {found[0].code} names no patient; no event written",
        )
        return
    if day is None:
        run.report(
            place,
            record,
            "missing_date",
            f"{resource['resourceType']} with harm code {found[0].code} has no full date; no event written",
        )
        return
    for code in found:
        run.event(
            {
                "patient_id": patient,
                "date": day,
                "kind": code.kind,
                "code": code.code,
                "code_system": code.code_system,
            }
        )


def read_condition(run: IngestRun, place: Place, resource: Resource) -> None:
    if _status(resource, "verificationStatus") in NOT_HAPPENED:
        return
    day = first_day(
        resource.get("onsetDateTime"), period_start(resource.get("onsetPeriod")), resource.get("recordedDate")
    )
    patient = place.resolver.id_of(resource.get("subject"))
    _emit(run, place, resource, patient, day, list(_matches(resource.get("code"))))


def read_observation(run: IngestRun, place: Place, resource: Resource) -> None:
    if _status(resource, "status") in NOT_HAPPENED:
        return
    found = [*_matches(resource.get("code")), *_matches(resource.get("valueCodeableConcept"))]
    day = first_day(
        resource.get("effectiveDateTime"),
        period_start(resource.get("effectivePeriod")),
        resource.get("issued"),
    )
    _emit(run, place, resource, place.resolver.id_of(resource.get("subject")), day, found)


def read_encounter(run: IngestRun, place: Place, resource: Resource) -> None:
    """Emergency class (now or in classHistory) → emergency_visit; harm codes in reasonCode → events."""
    if _status(resource, "status") in NOT_HAPPENED:
        return
    classes = [resource.get("class")]
    classes += [h.get("class") for h in resource.get("classHistory") or [] if isinstance(h, Mapping)]
    found: list[HarmCode] = []
    for coding in classes:
        if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
            system = CODE_SYSTEMS.get(str(coding.get("system")), ACTCODE)
            match = load_harm_codes().get(code_key(system, coding["code"]))
            if match is not None and match not in found:
                found.append(match)
    for reason in resource.get("reasonCode") or []:
        found += _matches(reason)
    day = day_of(period_start(resource.get("period")))
    _emit(run, place, resource, place.resolver.id_of(resource.get("subject")), day, found)


def read_patient(run: IngestRun, place: Place, resource: Resource) -> None:
    patient = resource.get("id")
    if not isinstance(patient, str) or not patient.strip():
        run.report(place, "", "missing_id", "Patient has no id, so no record can be linked to it")
        return
    death = day_of(resource.get("deceasedDateTime"))
    if resource.get("birthDate") is not None and day_of(resource.get("birthDate")) is None:
        run.report(
            place, patient, "partial_date",
            f"birthDate {resource.get('birthDate')!r} is not a full date; birth_date left empty",
        )  # fmt: skip
    gender = resource.get("gender")
    if gender is not None and sex_word(gender) is None:
        run.report(
            place, patient, "bad_value",
            f"gender {str(gender)[:40]!r} is not female, male, other or unknown; sex left empty",
        )  # fmt: skip
    run.sink.patient(
        {
            "patient_id": patient,
            "sex": sex_word(gender),
            "birth_date": day_of(resource.get("birthDate")),
            "death_date": death,
            "organisation_id": place.resolver.id_of(resource.get("managingOrganization")),
        }
    )
    if death:
        run.event({"patient_id": patient, "date": death, "kind": "death", "code": None, "code_system": None})
    elif resource.get("deceasedBoolean") is True or "deceasedDateTime" in resource:
        run.report(
            place,
            patient,
            "death_without_date",
            "Patient is recorded as deceased with no full date of death; no death event",
        )
