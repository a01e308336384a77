"""Text from an export shown as itself (issue 11 item 8): direction controls cannot reorder a label, an
absurdly long value is cut for display with its length said, and the page stays small."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from taperwise.store import open_store
from taperwise.store.models import Patient, PrescriptionRecord
from taperwise.web.rendering import DISPLAY_LIMIT, clip, user_text
from tests.web.conftest import patient_ids

RLO = "\u202e"
LONG_DRUG = "Oxycodone 5 mg tablet " + "=HYPERLINK(x)" * 400  # 5,222 characters


def test_direction_controls_are_shown_as_marks_and_isolated() -> None:
    assert clip(f"DR-{RLO}exe.fdp") == "DR-[U+202E]exe.fdp"
    assert str(user_text("S001")) == "<bdi>S001</bdi>"
    assert str(user_text("<b>&")) == "<bdi>&lt;b&gt;&amp;</bdi>"
    assert clip("مورفين") == "مورفين"  # right-to-left text itself is kept; only the controls are marked


def test_a_long_value_is_cut_with_its_length_said() -> None:
    shown = clip("x" * 5000)
    assert shown == "x" * DISPLAY_LIMIT + "… (5,000 characters)"
    assert clip(None) == ""


def test_hostile_export_text_on_the_patient_page_is_isolated_marked_and_cut(
    signed_in: TestClient, store_url: str
) -> None:
    number = patient_ids(signed_in)["S001"]
    with open_store(store_url).session() as s:
        s.execute(
            update(PrescriptionRecord)
            .where(PrescriptionRecord.patient_id == number)
            .values(drug=LONG_DRUG, prescriber_id=f"DR-{RLO}A", reason=None)
        )
        external = s.scalar(select(Patient.external_id).where(Patient.id == number))
    page = signed_in.get(f"/patients/{number}")
    assert page.status_code == 200
    # Only a form value keeps the id exactly (the filter must match it); nothing displayed holds the RLO.
    assert RLO not in re.sub(r'value="[^"]*"', "", page.text)
    assert "<bdi>DR-[U+202E]A</bdi>" in page.text
    assert f"<bdi>{external}</bdi>" in page.text
    assert "… (5,222 characters)" in page.text
    assert LONG_DRUG not in page.text
    assert len(page.text) < 80_000  # every prescription of S001 once, each drug cut at 200 characters
    options = [line for line in page.text.splitlines() if '<option dir="auto"' in line]
    assert options, "the prescriber choices isolate their direction too"


def test_the_worklist_isolates_labels(signed_in: TestClient) -> None:
    page = signed_in.get("/worklist")
    assert "<bdi>S001</bdi>" in page.text
