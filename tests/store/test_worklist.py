"""The worklist and the patient's picture: organisations isolated, roles applied, every view audited."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from taperwise.errors import RequestValidationError
from taperwise.store import Store
from taperwise.store import repositories as repo
from taperwise.store.access import can_view_identifiable
from taperwise.store.audit import pending_events
from taperwise.store.models import AuditEvent, Patient, User
from tests.store.helpers import add_user, publish_example


@pytest.fixture
def two_practices(store: Store, registry_files: dict[str, Path]) -> Store:
    """The example registry published for ORG-A and, separately, for ORG-B (same ids, other people)."""
    publish_example(store, registry_files, "ORG-A")
    publish_example(store, registry_files, "ORG-B")
    return store


def _patient(store: Store, org: str, external_id: str) -> int:
    with store.session() as s:
        organisation_id = repo.ensure_organisation(s, org).id
        patient_id = s.scalar(
            select(Patient.id).where(
                Patient.external_id == external_id, Patient.organisation_id == organisation_id
            )
        )
    assert patient_id is not None
    return patient_id


def _view(store: Store, user: User, patient_id: int) -> repo.PatientView | None:
    with store.session() as s:
        return repo.patient_view(s, user, patient_id, "198.51.100.4", "pytest")


def _events(store: Store, action: str) -> list[AuditEvent]:
    with store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_a_user_never_sees_another_organisations_patients_on_the_worklist(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.a", "clinician", "ORG-A")
    with two_practices.session() as s:
        page = repo.worklist(s, user, page_size=100)
    assert page.total == 9
    assert {row.organisation_code for row in page.items} == {"ORG-A"}
    own = {_patient(two_practices, "ORG-A", row.label) for row in page.items}
    assert {row.patient_id for row in page.items} == own


def test_a_user_of_two_organisations_sees_both(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.ab", "clinician", "ORG-A", "ORG-B")
    with two_practices.session() as s:
        page = repo.worklist(s, user, page_size=100)
    assert page.total == 18
    assert [row.priority for row in page.items] == sorted(row.priority for row in page.items)


def test_a_user_with_no_organisation_sees_nothing(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.none", "clinician")
    with two_practices.session() as s:
        assert repo.worklist(s, user).total == 0


def test_viewing_another_organisations_patient_is_refused_and_audited_as_denied(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.a", "clinician", "ORG-A")
    foreign = _patient(two_practices, "ORG-B", "S001")
    assert _view(two_practices, user, foreign) is None
    assert _view(two_practices, user, 999_999) is None
    denied = _events(two_practices, "denied")
    assert [(e.user_id, e.entity_id, e.ip) for e in denied] == [
        (user.id, str(foreign), "198.51.100.4"),
        (user.id, "999999", "198.51.100.4"),
    ]
    assert _events(two_practices, "view") == []


def test_every_patient_view_writes_a_view_audit_event(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.a", "clinician", "ORG-A")
    patient_id = _patient(two_practices, "ORG-A", "S001")
    view = _view(two_practices, user, patient_id)
    assert view is not None
    assert view.external_id == "S001"
    _view(two_practices, user, patient_id)
    views = _events(two_practices, "view")
    assert [(e.user_id, e.entity_type, e.entity_id, e.user_agent) for e in views] == [
        (user.id, "patient", str(patient_id), "pytest")
    ] * 2


def test_the_view_event_is_in_the_same_transaction_as_the_view(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.a", "clinician", "ORG-A")
    patient_id = _patient(two_practices, "ORG-A", "S001")
    seen_inside: list[AuditEvent] = []

    def view_then_fail() -> None:
        with two_practices.session() as s:
            assert repo.patient_view(s, user, patient_id, None, None) is not None
            seen_inside.extend(e for e in pending_events(s) if e.action == "view")  # written at commit
            raise RuntimeError("the page failed to render")

    with pytest.raises(RuntimeError):
        view_then_fail()
    assert len(seen_inside) == 1
    assert _events(two_practices, "view") == []


def test_the_patient_view_shows_the_trajectory_and_every_prescriber(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.a", "pharmacist", "ORG-A")
    view = _view(two_practices, user, _patient(two_practices, "ORG-A", "S001"))
    assert view is not None
    assert view.entry is not None
    assert view.entry.avg_daily_mme_90d == Decimal("91.1667")
    assert view.entry.high_dose_90
    assert view.entry.benzo_overlap_days_90d == 30
    assert view.segments[0].daily_mme == Decimal("90.0000")
    assert [seg.start_date for seg in view.segments] == sorted(seg.start_date for seg in view.segments)
    assert {rx.prescriber_id for rx in view.prescriptions} >= {"DR-A", "DR-B"}
    assert all(rx.rx_id and rx.rx_id.startswith("S001-") for rx in view.prescriptions)


@pytest.mark.parametrize("role", ["analyst", "coordinator"])
def test_analysts_and_coordinators_get_de_identified_rows(two_practices: Store, role: str) -> None:
    user = add_user(two_practices, f"{role}.a", role, "ORG-A")
    assert not can_view_identifiable(user)
    with two_practices.session() as s:
        page = repo.worklist(s, user, page_size=100)
    assert page.total == 9
    assert all(row.external_id is None and row.label.startswith("P-") for row in page.items)
    assert not any(row.label.startswith("S0") for row in page.items)
    view = _view(two_practices, user, page.items[0].patient_id)
    assert view is not None
    assert not view.identifiable
    assert (view.external_id, view.birth_date, view.death_date) == (None, None, None)
    assert view.prescriptions
    assert all(rx.rx_id is None for rx in view.prescriptions)
    assert _events(two_practices, "view")[0].detail == "de-identified"


def test_pseudonyms_are_stable_across_snapshots_and_differ_between_organisations(
    two_practices: Store, registry_files: dict[str, Path]
) -> None:
    user = add_user(two_practices, "analyst.ab", "analyst", "ORG-A", "ORG-B")
    with two_practices.session() as s:
        before = {row.patient_id: row.pseudonym for row in repo.worklist(s, user, page_size=100).items}
    publish_example(two_practices, registry_files, "ORG-A")
    with two_practices.session() as s:
        after = {row.patient_id: row.pseudonym for row in repo.worklist(s, user, page_size=100).items}
    assert before == after
    assert len(set(after.values())) == 18


def test_identifiable_roles_see_patient_ids(two_practices: Store) -> None:
    for role in ("clinician", "pharmacist", "psychologist", "admin"):
        user = add_user(two_practices, f"{role}.a", role, "ORG-A")
        assert can_view_identifiable(user)
        with two_practices.session() as s:
            assert repo.worklist(s, user, page_size=1).items[0].external_id == "S001"


def _labels(store: Store, user: User, **filters: object) -> list[str]:
    with store.session() as s:
        return [row.label for row in repo.worklist(s, user, page_size=100, **filters).items]  # type: ignore[arg-type]


def test_worklist_is_ordered_by_priority_then_highest_average_mme(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.a", "clinician", "ORG-A")
    with two_practices.session() as s:
        rows = repo.worklist(s, user, page_size=100).items
    keys = [(row.priority, -row.avg_daily_mme_90d) for row in rows]
    assert keys == sorted(keys)
    assert rows[0].label == "S001"


def test_worklist_filters_select_exactly_the_flagged_patients(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.a", "clinician", "ORG-A")
    with two_practices.session() as s:
        every = repo.worklist(s, user, page_size=100).items
    # a dose that could not be computed is a lower bound: the filters include it (unknown is not zero)
    assert set(_labels(two_practices, user, min_mme=90)) == {
        r.label for r in every if r.avg_daily_mme_90d >= 90 or r.dose_complete is False
    }
    assert set(_labels(two_practices, user, high_dose_90=True)) == {
        r.label for r in every if r.high_dose_90 or (r.high_dose_90 is None and r.dose_complete is False)
    }
    assert any(r.dose_complete is False for r in every)
    assert set(_labels(two_practices, user, benzo=True)) == {"S001", "S003"}
    assert set(_labels(two_practices, user, benzo=False)) == {r.label for r in every} - {"S001", "S003"}
    assert set(_labels(two_practices, user, multi_provider=True)) == {
        r.label for r in every if r.multi_provider
    }
    assert _labels(two_practices, user, min_mme=90, benzo=True) == ["S001"]
    assert set(_labels(two_practices, user, new_prescriber=False)) == {
        r.label for r in every if r.new_prescriber is False
    }


def test_worklist_search_matches_the_id_anywhere_in_any_case_or_a_pseudonym(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.a", "clinician", "ORG-A")
    assert _labels(two_practices, user, search="S005") == ["S005"]
    assert _labels(two_practices, user, search="s005") == ["S005"]
    # "005" is also a run of hexadecimal digits, so a patient whose random pseudonym holds it is found too
    with two_practices.session() as s:
        every = repo.worklist(s, user, page_size=100).items
    expected = [row.label for row in every if "005" in row.label or "005" in row.pseudonym]
    assert _labels(two_practices, user, search="005") == expected
    assert "S005" in expected
    assert len(_labels(two_practices, user, search="S00")) == len(_labels(two_practices, user, search="S"))
    assert _labels(two_practices, user, search="nobody") == []
    with two_practices.session() as s:
        pseudonym = repo.worklist(s, user, search="S005").items[0].pseudonym
    assert _labels(two_practices, user, search=pseudonym.lower()) == ["S005"]


def test_an_analyst_search_matches_pseudonyms_only_and_every_search_is_audited(two_practices: Store) -> None:
    """Issue 11: an analyst who could search by patient id would learn which pseudonym is which patient."""
    clinician = add_user(two_practices, "dr.a", "clinician", "ORG-A")
    analyst = add_user(two_practices, "an.a", "analyst", "ORG-A")
    with two_practices.session() as s:
        pseudonym = repo.worklist(s, clinician, search="S005").items[0].pseudonym
        for term in ("S005", "s00", "S"):  # never in a pseudonym (P- and hexadecimal)
            assert repo.worklist(s, analyst, search=term).total == 0, term
        found = repo.worklist(s, analyst, search=pseudonym[-6:].lower(), ip="10.1.1.1", user_agent="t")
        assert [row.pseudonym for row in found.items] == [pseudonym]
        assert all(row.external_id is None for row in found.items)
        # ties in the order are broken by pseudonym, not by the registry's (patient id) order
        every = repo.worklist(s, analyst, page_size=100).items
        keys = [(row.priority, -row.avg_daily_mme_90d) for row in every]
        for i in range(1, len(every)):
            if keys[i] == keys[i - 1]:
                assert every[i - 1].pseudonym < every[i].pseudonym
    with two_practices.session() as s:
        searches = s.scalars(select(AuditEvent).where(AuditEvent.action == "search")).all()
    assert len(searches) == 6
    mine = [e for e in searches if e.username == "an.a" and e.ip == "10.1.1.1"]
    assert len(mine) == 1
    assert "results=1" in mine[0].detail
    assert mine[0].entity_type == "worklist"


def test_worklist_pages_partition_the_list(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.a", "clinician", "ORG-A")
    with two_practices.session() as s:
        pages = [repo.worklist(s, user, page=n, page_size=4) for n in (1, 2, 3, 4)]
        whole = repo.worklist(s, user, page_size=100)
    assert [len(p.items) for p in pages] == [4, 4, 1, 0]
    assert [r.label for p in pages for r in p.items] == [r.label for r in whole.items]
    assert pages[0].total == 9
    assert pages[0].pages == 3


def test_a_page_out_of_range_is_refused(two_practices: Store) -> None:
    user = add_user(two_practices, "dr.a", "clinician", "ORG-A")
    with pytest.raises(RequestValidationError), two_practices.session() as s:
        repo.worklist(s, user, page=0)
