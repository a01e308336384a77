"""The worklist and patient pages over the real registry of examples/prescriptions.csv."""

from __future__ import annotations

import re
from html import escape, unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from taperwise.store import open_store
from taperwise.store.models import AuditEvent
from tests.web.conftest import csrf_of, patient_ids, sign_in


def labels(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/patients/\d+"><bdi>([^<]+)</bdi></a>', html)


# Priority rank (knowledge/data/registry/priority.csv), then average MME highest first. S008's only
# oxycodone in the 90 days has a negative quantity: its dose is unknown, never low, so it ranks as if
# at 90 MME/day (rank 3, after S005 by the lower-bound average), before the rank-10 patients.
WORKLIST_ORDER = ["S001", "S005", "S008", "S003", "S002", "S004", "S009", "S006", "S007"]


def test_the_worklist_is_in_priority_order_then_highest_mme(signed_in: TestClient):
    assert labels(signed_in.get("/worklist").text) == WORKLIST_ORDER


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("high_dose_90=1", ["S001", "S005", "S008"]),  # S008: unknown, so included
        ("benzo=1", ["S001", "S003"]),
        ("new_prescriber=1", ["S004"]),
        ("multi_provider=1", []),
        ("high_dose_90=1&benzo=1", ["S001"]),
        ("q=S00", WORKLIST_ORDER),
        ("q=S004", ["S004"]),
    ],
)
def test_worklist_filters_narrow_the_list(signed_in: TestClient, query: str, expected: list[str]):
    response = signed_in.get(f"/worklist?{query}")
    assert response.status_code == 200
    assert labels(response.text) == expected


def test_the_worklist_shows_the_priority_reason_and_flags(signed_in: TestClient):
    html = signed_in.get("/worklist?q=S001").text
    assert "average &gt;= 90 MME/day with benzodiazepine overlap" in html
    assert "Benzo overlap 30 d" in html
    assert "≥ 90 MME" in html


def test_an_htmx_filter_change_gets_only_the_results_fragment(signed_in: TestClient):
    response = signed_in.get("/worklist?benzo=1", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "<form" not in response.text
    assert labels(response.text) == ["S001", "S003"]


def test_a_page_beyond_the_last_says_no_patients_match(signed_in: TestClient):
    assert "No patients match" in signed_in.get("/worklist?page=2").text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("q=" + "S" * 101, "Search text is too long"),
        ("q=S0%00", "control characters"),
        ("page=-1", "Page must be a whole number"),
        ("page=abc", "Page must be a whole number"),
    ],
)
def test_unusable_filters_get_a_clear_message(signed_in: TestClient, query: str, message: str):
    response = signed_in.get(f"/worklist?{query}")
    assert response.status_code == 400
    assert message in response.text


def test_hostile_search_text_is_shown_as_text_never_as_markup(signed_in: TestClient):
    response = signed_in.get("/worklist", params={"q": '<script>alert("x")</script>'})
    assert response.status_code == 200
    assert '<script>alert("x")</script>' not in response.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in response.text


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("dr.avery\x00", "whatever password", "characters that are not allowed"),
        ("u" * 5000, "whatever password", "too long"),
        ("dr.avery", "p" * 5000, "too long"),
        ("", "", "Enter your username and password"),
    ],
)
def test_hostile_sign_in_fields_are_refused_with_a_message(client: TestClient, username, password, message):
    token = csrf_of(client)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 400
    assert message in response.text


def test_a_hostile_username_is_echoed_escaped(client: TestClient):
    token = csrf_of(client)
    hostile = '"><img src=x onerror=alert(1)>'
    response = client.post("/login", data={"username": hostile, "password": "x" * 12, "csrf_token": token})
    assert response.status_code == 401
    assert "<img src=x" not in response.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_the_patient_page_shows_the_picture(signed_in: TestClient):
    ids = patient_ids(signed_in)
    html = signed_in.get(f"/patients/{ids['S001']}").text
    assert '<svg class="trajectory"' in html
    assert "From 3 prescribers (DR-B (2), DR-C (1), DR-A (3))" in re.sub(r"</?bdi>", "", html)  # benzo too
    assert "Offer naloxone" in html
    assert "Opioid with a benzodiazepine" in html
    assert "opioid overdose on 2025-03-10" in html  # the harm event on the chart
    assert "intake checklist" not in html  # same prescriber family: no inherited-patient checklist


def test_a_highest_dose_that_includes_an_early_refill_is_labelled_on_the_worklist_page_and_chart(
    signed_in: TestClient,
):
    # S001's ER oxycodone refill of 28 January started 3 days early: 180 MME/day for 3 days, added
    ids = patient_ids(signed_in)
    html = signed_in.get(f"/patients/{ids['S001']}").text
    assert '180.0 <span class="flag" data-overlap>includes overlapping fills of one product' in html
    assert '<line class="overlap"' in html
    assert "A wide amber band marks a level that includes two fills of one product" in html
    other = signed_in.get(f"/patients/{ids['S005']}").text
    assert "data-overlap" not in other
    assert '<line class="overlap"' not in other
    worklist = signed_in.get("/worklist?q=S001").text
    assert "incl. overlapping fills" in worklist
    assert "incl. overlapping fills" not in signed_in.get("/worklist?q=S005").text


def test_a_low_dose_patient_without_benzodiazepines_gets_no_naloxone_alert(signed_in: TestClient):
    html = signed_in.get(f"/patients/{patient_ids(signed_in)['S004']}").text
    assert "Offer naloxone" not in html
    assert "Inherited patient: intake checklist" in html  # S004's latest fill is from a new prescriber


def test_every_patient_view_is_in_the_audit_log(signed_in: TestClient, store_url: str):
    ids = patient_ids(signed_in)
    signed_in.get(f"/patients/{ids['S002']}")
    signed_in.get(f"/api/patients/{ids['S003']}")
    with open_store(store_url).session() as s:
        viewed = s.scalars(
            select(AuditEvent.entity_id).where(AuditEvent.action == "view", AuditEvent.username == "dr.avery")
        ).all()
    assert str(ids["S002"]) in viewed
    assert str(ids["S003"]) in viewed


def test_security_headers_forbid_inline_script_framing_and_referrers(signed_in: TestClient):
    headers = signed_in.get("/worklist").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"


def test_no_page_has_inline_scripts_or_styles(signed_in: TestClient):
    ids = patient_ids(signed_in)
    for path in ("/worklist", f"/patients/{ids['S001']}", f"/patients/{ids['S004']}"):
        html = signed_in.get(path).text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], path
        assert " style=" not in html, path
        assert "<style" not in html, path
        assert re.search(r"\son[a-z]+=", html) is None, path


def test_the_vendored_htmx_is_served_with_its_licence_and_no_cdn_is_used(signed_in: TestClient):
    script = signed_in.get("/static/htmx.min.js")
    assert script.status_code == 200
    assert script.text.startswith("/*! htmx 2.")
    assert "Zero-Clause BSD" in script.text[:300]
    assert "https://" not in signed_in.get("/worklist").text.split("<body")[0].replace("https://htmx.org", "")


def test_an_analyst_sees_pseudonyms_only(client: TestClient):
    sign_in(client, "ana.lyst")
    html = client.get("/worklist").text
    shown = labels(html)
    assert len(shown) == 9
    assert all(label.startswith("P-") for label in shown)
    assert "S00" not in html
    patient = client.get(f"/patients/{patient_ids(client)[shown[0]]}").text
    assert "S00" not in patient
    assert "De-identified" in patient


def rx_cells(html: str) -> list[list[str]]:
    """The prescription table's rows (of the whole page or of the htmx fragment), as cell texts."""
    start = html.find('<table class="prescriptions" aria-describedby="rx-count">')
    if start < 0:
        return []
    body = html[html.index("<tbody>", start) : html.index("</tbody>", start)]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    return [[unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in row] for row in cells]


def options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select id="rx-{name}" name="{name}">(.*?)</select>', html, re.S)
    assert select is not None
    return re.findall(r'<option (?:dir="auto" )?value="([^"]*)"', select.group(1))


def test_the_patient_page_shows_every_prescription_once_in_one_table_newest_first(signed_in: TestClient):
    html = signed_in.get(f"/patients/{patient_ids(signed_in)['S001']}").text
    assert "By prescriber" not in html
    assert "By pharmacy" not in html
    rows = rx_cells(html)
    assert [row[0][:10] for row in rows] == ["2025-03-01", "2025-01-28", "2025-01-10", "2025-01-01",
                                             "2025-01-01", "2024-12-02"]  # fmt: skip
    assert sorted((row[5], row[6]) for row in rows) == sorted(
        [("DR-A", "PH-1")] * 3 + [("DR-B", "PH-2"), ("DR-B", "PH-3"), ("DR-C", "PH-2")]
    )
    assert options(html, "prescriber") == ["", "DR-B", "DR-C", "DR-A"]  # most recent fill first
    assert options(html, "pharmacy") == ["", "PH-3", "PH-2", "PH-1"]
    assert options(html, "drug") == ["", "alprazolam", "oxycodone"]
    assert options(html, "status") == ["", "not_opioid", "ok"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"prescriber": "DR-A"}, 3),
        ({"pharmacy": "PH-2"}, 2),
        ({"drug": "alprazolam"}, 1),
        ({"status": "ok"}, 5),
        ({"from": "2025-03-01"}, 1),
        ({"to": "2024-12-31"}, 1),
        ({"from": "2025-01-05", "to": "2025-01-12"}, 3),  # overlapping it: both 01-01 fills, 01-10
        ({"prescriber": "DR-B", "pharmacy": "PH-2"}, 1),
        ({"prescriber": "DR-C", "status": "ok"}, 0),
    ],
)
def test_prescription_filters_narrow_the_table(signed_in: TestClient, query: dict[str, str], expected: int):
    response = signed_in.get(f"/patients/{patient_ids(signed_in)['S001']}", params=query)
    assert response.status_code == 200
    rows = rx_cells(response.text)
    assert len(rows) == expected
    if expected == 0:
        assert "No prescriptions match these filters" in response.text
    for name, column in (("prescriber", 5), ("pharmacy", 6)):
        if name in query:
            assert {row[column] for row in rows} <= {query[name]}


def test_an_unknown_dose_reads_unknown_in_the_table_and_an_excluded_one_not_counted(signed_in: TestClient):
    rows = rx_cells(signed_in.get(f"/patients/{patient_ids(signed_in)['S008']}").text)
    doses = {row[7].split(":")[0]: row[4] for row in rows}
    assert doses == {"excluded": "not counted", "insufficient_data": "unknown", "unrecognized": "unknown"}
    assert all(row[4] not in ("", "0", "0.0") for row in rows)
    assert any("quantity '-120' must be a number above zero" in row[7] for row in rows)


def test_a_date_range_says_how_many_undated_records_it_leaves_out(signed_in: TestClient):
    response = signed_in.get(f"/patients/{patient_ids(signed_in)['S008']}", params={"from": "2025-01-01"})
    assert "3 records without usable dates are not shown while a date range is set" in response.text


def test_an_htmx_filter_change_gets_only_the_prescription_table(signed_in: TestClient):
    response = signed_in.get(f"/patients/{patient_ids(signed_in)['S001']}", params={"prescriber": "DR-B"},
                             headers={"HX-Request": "true"})  # fmt: skip
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "<form" not in response.text
    assert "<svg" not in response.text
    assert len(rx_cells(response.text)) == 2


HOSTILE = '<script>alert("x")</script>'


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"prescriber": "DR-Z"}, "Prescriber: that value is not one of this patient&#39;s prescriptions"),
        ({"pharmacy": HOSTILE}, "Pharmacy: that value is not one of"),
        ({"drug": "oxy\x00codone"}, "Drug: the value contains control characters"),
        ({"status": "x" * 500}, "Status: the value is too long"),
        ({"from": "2025-02-30"}, "From: use a real date written YYYY-MM-DD"),
        ({"to": "' OR 1=1 --"}, "To: use a real date written YYYY-MM-DD"),
        ({"from": "2025-03-01", "to": "2025-01-01"}, "The date range ends before it starts"),
        ({"sort": HOSTILE}, "Order: choose newest first or oldest first"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_unusable_prescription_filters_get_a_clear_message_and_are_never_echoed(
    signed_in: TestClient, query: dict[str, str], message: str, htmx: bool
):
    headers = {"HX-Request": "true"} if htmx else {}
    response = signed_in.get(f"/patients/{patient_ids(signed_in)['S001']}", params=query, headers=headers)
    assert response.status_code == 400
    assert message in response.text
    assert "Every prescription is shown" in response.text
    assert len(rx_cells(response.text)) == 6
    for value in query.values():
        if value not in ("2025-03-01", "2025-01-01"):  # the refused range's dates are real table dates
            assert value not in response.text
            assert escape(value) not in response.text  # not even escaped: the value is never repeated


def test_an_analyst_can_filter_only_by_what_an_analyst_sees(client: TestClient):
    sign_in(client, "ana.lyst")
    number = patient_ids(client)[labels(client.get("/worklist").text)[0]]
    html = client.get(f"/patients/{number}").text
    assert "S00" not in html  # no registry id, no prescription id, in the table or the filters
    rows = rx_cells(html)
    assert rows
    assert set(options(html, "prescriber")) - {""} == {row[5] for row in rows}
    assert set(options(html, "pharmacy")) - {""} == {row[6] for row in rows}
    chosen = options(html, "prescriber")[1]
    filtered = client.get(f"/patients/{number}", params={"prescriber": chosen})
    assert filtered.status_code == 200
    assert {row[5] for row in rx_cells(filtered.text)} == {chosen}
    assert "S00" not in filtered.text


def test_every_filtered_read_of_a_patient_is_audited(signed_in: TestClient, store_url: str):
    number = patient_ids(signed_in)["S001"]

    def views() -> int:
        with open_store(store_url).session() as s:
            return len(s.scalars(select(AuditEvent.id).where(
                AuditEvent.action == "view", AuditEvent.entity_id == str(number))).all())  # fmt: skip

    before = views()
    signed_in.get(f"/patients/{number}", params={"prescriber": "DR-A"})
    signed_in.get(f"/patients/{number}", params={"pharmacy": "PH-1"}, headers={"HX-Request": "true"})
    signed_in.get(f"/patients/{number}", params={"prescriber": "DR-Z"})  # refused, but the page was read
    assert views() == before + 3


def test_the_chart_of_an_incomplete_dose_says_its_line_is_a_lower_bound(signed_in: TestClient):
    ids = patient_ids(signed_in)
    caption = "where it rests on 0, the dose may not be 0"
    assert caption in signed_in.get(f"/patients/{ids['S008']}").text
    assert caption not in signed_in.get(f"/patients/{ids['S001']}").text
