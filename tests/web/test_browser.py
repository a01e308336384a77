"""The newcomer's path in a real browser: sign in, filter to ≥ 90 MME, open a patient, see the picture.

Debian's Chromium (/usr/bin/chromium) driven by Playwright against a real uvicorn server on 127.0.0.1
(a free port) over a store loaded with the registry of examples/prescriptions.csv. Playwright never
downloads a browser here. Screenshots go to test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import uvicorn

from taperwise.web import create_app
from taperwise.web.charts import Step, trajectory_svg
from tests.web.conftest import (
    PASSWORD,
    ROOT,
    SECRET,
    SITE_LOOKBACK_DAYS,
    SITE_RECENT_DAYS,
    SITE_THRESHOLDS,
    StoreTemplate,
)

playwright_sync = pytest.importorskip("playwright.sync_api")
# Assertions wait up to 15 s (Playwright's default is 5): on the 2-core CI machine two test workers and a
# JVM run beside the browser, and an htmx save-as-you-go reply once took longer than 5 s there.
playwright_sync.expect.set_options(timeout=15_000)
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live_server(store_template: StoreTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with store_template.copy(tmp_path_factory.mktemp("live")) as url:
        yield from serve(url)


@pytest.fixture(scope="module")
def site_server(
    site_store_template: StoreTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The app over a snapshot computed with a site's own settings (thresholds 50 and 100, …)."""
    with site_store_template.copy(tmp_path_factory.mktemp("live-site")) as url:
        yield from serve(url)


def serve(url: str) -> Iterator[str]:
    """uvicorn in a thread over the store at `url`, until the generator is closed."""
    # Dev mode: plain http on 127.0.0.1, so the session cookie must not be Secure-only.
    previous = os.environ.get("TAPERWISE_DEV")
    os.environ["TAPERWISE_DEV"] = "1"
    try:
        app = create_app(url, secret_key=SECRET)
    finally:
        if previous is None:
            os.environ.pop("TAPERWISE_DEV", None)
        else:
            os.environ["TAPERWISE_DEV"] = previous
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


def _watched_tab(browser: object, width: int, height: int) -> tuple[object, object]:
    """A context and its tab whose console errors and page errors collect in `tab.problems`."""
    context = browser.new_context(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.problems = problems
    return context, tab


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context, tab = _watched_tab(browser, 1280, 900)
    yield tab
    context.close()  # type: ignore[attr-defined]


@pytest.fixture
def tab_of(browser: object) -> Iterator[object]:
    """Opens tabs of a given viewport width (closed after the test)."""
    contexts: list[object] = []

    def open_tab(width: int, height: int = 900) -> object:
        context, tab = _watched_tab(browser, width, height)
        contexts.append(context)
        return tab

    yield open_tab
    for context in contexts:
        context.close()  # type: ignore[attr-defined]


def shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def sign_in(page, base: str, username: str = "dr.avery") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/worklist")
    page.wait_for_url(re.compile(r"/login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/worklist"))


def test_newcomer_signs_in_filters_to_90_mme_and_sees_the_trajectory_and_every_prescriber(page, live_server):
    expect = playwright_sync.expect
    page.goto(f"{live_server}/login")
    shot(page, "01-login")
    sign_in(page, live_server)
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    expect(page.locator("table.worklist tbody tr")).to_have_count(9)
    shot(page, "02-worklist")

    page.get_by_label("Average ≥ 90 MME/day (or unknown)").check()  # htmx swaps the results in
    expect(page.locator("table.worklist tbody tr")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"high_dose_90=1"))
    rows = page.locator("table.worklist tbody tr")
    expect(rows.locator("th")).to_have_text(["S001", "S005", "S008"])  # priority order; S008 unknown
    expect(rows.nth(2).get_by_text("Dose incomplete: lower bound")).to_be_visible()
    shot(page, "03-worklist-90-mme")

    rows.first.get_by_role("link", name="S001").click()
    expect(page.get_by_role("heading", name="Patient S001")).to_be_visible()
    chart = page.locator("svg.trajectory")
    expect(chart).to_be_visible()
    expect(chart.locator("title").first).to_have_text("Daily MME over time")
    expect(chart.locator(".threshold text")).to_have_text(["50 MME/day", "90 MME/day"])
    # Every prescriber of S001, the benzodiazepine's too, the most recent fill first: the filter offers
    # each, and the table holds every prescription once.
    expect(page.get_by_label("Prescriber").locator("option")).to_have_text(
        ["Any", "DR-B (2)", "DR-C (1)", "DR-A (3)"]
    )
    expect(page.locator("#prescriptions")).to_contain_text(
        "From 3 prescribers (DR-B (2), DR-C (1), DR-A (3))"
    )
    expect(page.locator("table.prescriptions:not(.regimen) tbody tr")).to_have_count(6)
    expect(page.get_by_role("note", name="Offer naloxone")).to_be_visible()
    shot(page, "04-patient-s001")
    assert page.problems == []  # no CSP violation or script error on the way


def test_search_finds_a_patient_whose_pharmacies_harm_event_and_benzodiazepine_alert_are_shown(
    page, live_server
):
    expect = playwright_sync.expect
    sign_in(page, live_server)
    page.get_by_label("Patient id starts with (or pseudonym)").fill("S001")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table.worklist tbody tr")).to_have_count(1)
    page.get_by_role("link", name="S001").click()
    expect(page.get_by_label("Pharmacy").locator("option")).to_have_text(
        ["Any", "PH-3 (1)", "PH-2 (2)", "PH-1 (3)"]
    )
    expect(page.locator("svg.trajectory .harm title")).to_have_text(["opioid overdose on 2025-03-10"])
    expect(page.get_by_role("note", name="Opioid with a benzodiazepine")).to_be_visible()
    shot(page, "05-patient-s001-search")
    page.emulate_media(media="print")
    expect(page.locator("form.rx-filters")).to_be_hidden()  # the filters are not printed; what they
    expect(page.locator("#rx-count")).to_be_visible()  # selected is, above the table
    shot(page, "06-patient-s001-print")
    assert page.problems == []


def test_the_worklist_filters_work_without_javascript(browser, live_server):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_server)
        page.get_by_label("Benzodiazepine overlap").check()
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r"benzo=1"))
        rows = page.locator("table.worklist tbody tr")
        playwright_sync.expect(rows).to_have_count(2)
    finally:
        context.close()


def test_the_inherited_patient_checklist_appears_when_the_prescriber_changed(page, live_server):
    expect = playwright_sync.expect
    sign_in(page, live_server)
    page.get_by_label("New prescriber").check()
    expect(page.locator("table.worklist tbody tr")).to_have_count(1)
    page.get_by_role("link", name="S004").click()
    checklist = page.locator("section.checklist")
    expect(checklist.get_by_role("checkbox")).to_have_count(5)
    expect(checklist).to_contain_text("prescription monitoring")
    expect(checklist.get_by_role("radio")).to_have_count(4)  # the decision that ends the intake
    shot(page, "07-patient-s004-inherited")


def test_an_anonymous_browser_is_sent_to_the_sign_in_page(page, live_server):
    page.goto(f"{live_server}/patients/1")
    assert "/login" in page.url
    assert "S00" not in page.content()


def test_a_dose_that_cannot_be_computed_reads_as_a_lower_bound_with_its_gap(page, live_server):
    expect = playwright_sync.expect
    sign_in(page, live_server)
    page.get_by_label("Patient id starts with (or pseudonym)").fill("S008")
    page.get_by_role("button", name="Apply").click()
    row = page.locator("table.worklist tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td.num").nth(1)).to_contain_text("≥ ")
    expect(row.get_by_text("Dose incomplete: lower bound")).to_have_attribute("title", re.compile(r"\S"))
    row.get_by_role("link", name="S008").click()
    expect(page.get_by_role("heading", name="Patient S008")).to_be_visible()
    average = page.locator("dt", has_text="Average MME/day").locator("xpath=following-sibling::dd")
    expect(average).to_contain_text("at least")
    expect(average).to_contain_text("dose incomplete: a lower bound")
    expect(page.locator("dt", has_text="Priority").locator("xpath=following-sibling::dd")).to_contain_text(
        "lower bound"
    )
    shot(page, "08-patient-s008-dose-incomplete")
    assert page.problems == []


def open_patient(page, base: str, label: str) -> None:  # type: ignore[no-untyped-def]
    """From a signed-in page: search the worklist for `label` and open that patient."""
    page.goto(f"{base}/worklist")
    page.get_by_label("Patient id starts with (or pseudonym)").fill(label)
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("link", name=label, exact=True).click()
    playwright_sync.expect(page.get_by_role("heading", name=f"Patient {label}")).to_be_visible()


def rx_rows(page):  # type: ignore[no-untyped-def]
    return page.locator("#rx-results table.prescriptions tbody tr")


def regimen_rows(page):  # type: ignore[no-untyped-def]
    return page.locator("table.regimen tbody tr")


def test_the_current_regimen_shows_each_drugs_latest_supply_and_how_long_ago_it_ended(page, live_server):
    expect = playwright_sync.expect
    sign_in(page, live_server)
    open_patient(page, live_server, "S001")
    regimen = page.locator("section", has=page.get_by_role("heading", name="Current regimen"))
    expect(regimen.locator("caption")).to_have_text("Each drug's latest supply in the last 180 days")
    rows = regimen_rows(page)
    expect(rows).to_have_count(2)  # oxycodone (the latest of its five fills) and alprazolam
    expect(rows.nth(0).locator("td")).to_have_text(
        ["12 HR Oxycodone Hydrochloride 30 MG Extended Release Oral Tablet", "2025-03-01 to 2025-03-30",
         "ended 1 day before the registry date", "90.0", "DR-B", "ok"]
    )  # fmt: skip
    expect(rows.nth(1).locator("td").nth(0)).to_contain_text("Alprazolam 0.5 MG Oral Tablet")
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("ended 51 days before the registry date")
    expect(rows.nth(1).locator("td.mme")).to_have_text("— not an opioid")
    shot(page, "09-patient-s001-regimen")

    # S005: a buprenorphine patch (never in MME) is the supply now, methadone ended 29 days before
    open_patient(page, live_server, "S005")
    s005 = regimen_rows(page)
    expect(s005.nth(0).locator("td").nth(0)).to_contain_text("Buprenorphine")
    expect(s005.nth(0).locator("td").nth(2)).to_have_text("ended 1 day before the registry date")
    expect(s005.nth(0).locator("td.mme")).to_contain_text("not counted")
    expect(s005.nth(1).locator("td").nth(2)).to_have_text("ended 29 days before the registry date")

    # S008's oxycodone has a negative quantity: its dose is unknown, and reads so — never 0, never blank.
    open_patient(page, live_server, "S008")
    (row,) = regimen_rows(page).all()
    expect(row.locator("td.mme")).to_have_text("unknown")
    expect(row.locator("td").last).to_contain_text("quantity '-120' must be a number above zero")
    assert page.problems == []


def test_labels_follow_the_settings_the_snapshot_was_computed_with(page, site_server):
    """A site with high-dose thresholds 50 and 100, 60 recent days and a 120-day lookback sees those
    numbers — on the worklist, the chart, the facts, the flags and the regimen — never 90 or 180."""
    expect = playwright_sync.expect
    low, high = SITE_THRESHOLDS
    sign_in(page, site_server)
    expect(page.get_by_label(f"Average ≥ {high} MME/day (or unknown)")).to_be_visible()
    headers = page.locator("table.worklist thead th")
    expect(headers.nth(2)).to_have_text(f"Average MME/day ({SITE_RECENT_DAYS} days)")
    expect(headers.nth(3)).to_have_text(f"Highest MME/day ({SITE_RECENT_DAYS} days)")
    shot(page, "10-site-worklist")

    open_patient(page, site_server, "S001")
    chart = page.locator("svg.trajectory")
    expect(chart.locator(".threshold text")).to_have_text([f"{low} MME/day", f"{high} MME/day"])
    strokes = chart.locator(".threshold line").evaluate_all(
        "(ls) => ls.map((l) => getComputedStyle(l).stroke)"
    )
    assert len(strokes) == 2
    assert "none" not in strokes, strokes  # the site's own lines are drawn (styled as low and high)
    expect(page.locator("figure.chart figcaption")).to_contain_text(
        f"dashed lines at {low} and {high} MME/day"
    )
    average = page.locator("dt", has_text="Average MME/day").locator("xpath=following-sibling::dd")
    expect(page.locator(".facts dt").filter(has_text="Average MME/day")).to_have_text(
        f"Average MME/day ({SITE_RECENT_DAYS} days)"
    )
    expect(average).to_be_visible()
    flags = page.locator("section", has=page.get_by_role("heading", name="Flags"))
    expect(flags).to_contain_text(f"in the last {SITE_RECENT_DAYS} days")
    expect(flags).not_to_contain_text("last 90 days")
    regimen = page.locator("section", has=page.get_by_role("heading", name="Current regimen"))
    expect(regimen.locator("caption")).to_have_text(
        f"Each drug's latest supply in the last {SITE_LOOKBACK_DAYS} days"
    )
    shot(page, "11-site-patient-s001")
    assert page.problems == []


CHART_BOXES = """() => {
  const svg = document.querySelector('svg.trajectory');
  const box = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.right, b.top, b.bottom]; };
  const main = document.querySelector('main');
  const style = getComputedStyle(main);
  return {
    svg: box(svg),
    content: main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
    dates: [...svg.querySelectorAll('text.x-tick')].map((t) => [t.textContent, ...box(t)]),
    yTicks: [...svg.querySelectorAll('text.y-tick')].map((t) => t.textContent),
    labels: [...svg.querySelectorAll('.threshold text, .as-of text, text.y-tick')].map(box),
  };
}"""


def assert_labels_apart(dates: list[list[object]]) -> None:
    """Date label boxes (text, left, right, top, bottom) in page pixels: none overlaps the next."""
    ordered = sorted(dates, key=lambda d: float(d[1]))  # type: ignore[arg-type]
    for a, b in itertools.pairwise(ordered):
        assert float(a[2]) + 2 <= float(b[1]), (a, b)  # type: ignore[arg-type]


@pytest.mark.parametrize("width", [1400, 800])
def test_the_chart_fills_the_content_width_with_round_ticks_and_date_labels_apart(tab_of, live_server, width):
    page = tab_of(width)
    sign_in(page, live_server)
    open_patient(page, live_server, "S001")
    found = page.evaluate(CHART_BOXES)
    left, right, top, bottom = found["svg"]
    assert abs((right - left) - found["content"]) <= 1, found  # the full content width
    assert right - left > width * 0.85
    assert found["yTicks"][:1] == ["0"]
    assert len(found["yTicks"]) >= 3
    assert all(float(tick) % 10 == 0 for tick in found["yTicks"])  # round values (0, 20, 40, …)
    dates = found["dates"]
    assert len(dates) >= 4, dates
    assert [d[0] for d in dates] == sorted(d[0] for d in dates)
    assert_labels_apart(dates)
    for box in [d[1:] for d in dates] + found["labels"]:  # nothing drawn past the chart's edges
        assert left - 0.5 <= box[0], box
        assert box[1] <= right + 0.5, box
        assert top - 0.5 <= box[2], box
        assert box[3] <= bottom + 0.5, box
    shot(page, f"12-patient-s001-{width}px")
    page.locator("figure.chart").screenshot(path=str(SCREENSHOTS / f"13-chart-{width}px.png"))
    for section in ("regimen", "prescriptions"):  # the tables at the same width, for a person to look at
        page.locator("section", has=page.locator(f"#{section}-heading")).screenshot(
            path=str(SCREENSHOTS / f"16-{section}-{width}px.png")
        )
    assert page.problems == []


@pytest.mark.parametrize("viewport", [1400, 800])
def test_date_labels_stay_apart_in_chromium_for_a_month_to_ten_years(tab_of, viewport):
    """The chart's own label widths are estimates; here the real font measures them, for spans from 30
    days to ten years, drawn into containers from phone to desk width, with the stylesheet's text size
    for wide and for narrow screens."""
    page = tab_of(viewport)
    first = dt.date(2016, 3, 17)
    charts = []
    for n, days in enumerate((30, 45, 90, 180, 365, 540, 730, 1095, 1826, 2557, 3653)):
        steps = [Step(first, first + dt.timedelta(days=days - 1), Decimal(120))]
        for size in (360, 800, 1300):
            svg = trajectory_svg(steps, as_of=first + dt.timedelta(days=days - 1), chart_id=f"c{n}-{size}")
            charts.append(f'<figure class="chart sized-{size}" data-days="{days}">{svg}</figure>')
    page.set_content("<!doctype html><html><body><main>" + "".join(charts) + "</main></body></html>")
    page.add_style_tag(path=str(ROOT / "src" / "taperwise" / "web" / "static" / "taperwise.css"))
    page.add_style_tag(
        content=".sized-360 { width: 360px } .sized-800 { width: 800px } .sized-1300 { width: 1300px }"
    )
    measured = page.locator("svg.trajectory").evaluate_all(
        """(svgs) => svgs.map((svg) => [...svg.querySelectorAll('text.x-tick')].map((t) => {
             const b = t.getBoundingClientRect(); return [t.textContent, b.left, b.right]; }))"""
    )
    assert len(measured) == len(charts)
    for dates in measured:
        assert len(dates) >= 2, dates
        assert_labels_apart(dates)
    shot(page, f"14-chart-spans-{viewport}px")


def test_the_prescription_table_filters_in_place_with_htmx(page, live_server):
    expect = playwright_sync.expect
    sign_in(page, live_server)
    open_patient(page, live_server, "S001")
    rows = rx_rows(page)
    expect(rows).to_have_count(6)
    expect(rows.locator("td.date .start")).to_have_text(
        ["2025-03-01", "2025-01-28", "2025-01-10", "2025-01-01", "2025-01-01", "2024-12-02"]
    )  # every prescription once, newest first
    page.evaluate("() => { window.keptAcrossSwaps = true; }")

    page.get_by_label("Prescriber", exact=True).select_option("DR-B")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"prescriber=DR-B"))
    expect(page.locator("#rx-count")).to_contain_text("2 of 6 prescriptions, newest first: prescriber DR-B")
    expect(rows.locator("td:nth-child(6)")).to_have_text(["DR-B", "DR-B"])

    page.get_by_label("From", exact=True).fill("2025-03-05")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.date .start")).to_have_text("2025-03-01")  # supply overlapping the range
    page.get_by_label("To", exact=True).fill("2025-01-01")  # before From: refused with a message, in place
    expect(page.get_by_role("alert")).to_contain_text("The date range ends before it starts")
    expect(rows).to_have_count(6)  # nothing hidden by a filter the page cannot show as set
    page.locator("#prescriptions").screenshot(path=str(SCREENSHOTS / "15-prescriptions-refused-range.png"))
    assert page.evaluate("() => window.keptAcrossSwaps") is True  # no page load: htmx swapped the table

    page.get_by_role("link", name="Clear filters").click()  # an ordinary link: the whole page, unfiltered
    expect(page).to_have_url(re.compile(r"/patients/\d+#prescriptions$"))
    expect(rows).to_have_count(6)
    page.get_by_label("Drug", exact=True).select_option("alprazolam")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.mme")).to_have_text("— not an opioid")
    page.get_by_label("Drug", exact=True).select_option("")
    expect(rows).to_have_count(6)
    page.get_by_label("Order", exact=True).select_option("oldest")
    expect(rows.first.locator("td.date .start")).to_have_text("2024-12-02")
    expect(page.locator("#rx-count")).to_have_text("All 6 prescriptions, oldest first.")
    shot(page, "15-patient-s001-prescriptions-oldest-first")
    # The refused date range was a 400, which Chromium reports as a failed load; nothing else went wrong.
    assert [p for p in page.problems if "status of 400" not in p] == []


def test_the_prescription_filters_work_without_javascript(browser, live_server):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_server)
        open_patient(page, live_server, "S001")
        form = page.locator("form.rx-filters")
        form.get_by_label("Pharmacy").select_option("PH-1")
        form.get_by_label("Status").select_option("ok")
        form.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r"pharmacy=PH-1"))
        rows = rx_rows(page)
        playwright_sync.expect(rows).to_have_count(3)
        playwright_sync.expect(rows.locator("td:nth-child(7)")).to_have_text(["PH-1"] * 3)
        playwright_sync.expect(form.get_by_label("Pharmacy")).to_have_value("PH-1")  # the form shows it set
    finally:
        context.close()


def test_a_clinician_assesses_a_patient_saving_as_they_go_and_sees_the_alert_and_the_modules(
    page, live_server
):
    expect = playwright_sync.expect
    sign_in(page, live_server)
    page.get_by_role("link", name="S002").click()
    expect(page.get_by_role("heading", name="Program")).to_be_visible()
    page.get_by_role("button", name="Start an assessment").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Assessment: patient S002"))).to_be_visible()

    phq9 = page.locator("section#phq9")
    for number in range(1, 9):
        phq9.locator(f"input[name=phq9_{number}][value='1']").check()
    # htmx saves each change and swaps the section: the score follows without a page load.
    expect(phq9.get_by_text("unknown — not answered: phq9_9")).to_be_visible()
    phq9.locator("input[name=phq9_9][value='1']").check()
    expect(page.locator("section#phq9 .scores")).to_contain_text("PHQ-9 total: 9 (mild)")
    expect(page.locator("section#phq9").get_by_role("alert")).to_contain_text("PHQ-9 item 9")
    shot(page, "10-assessment-phq9-alert")
    page.locator("section#phq9").screenshot(path=str(SCREENSHOTS / "10b-assessment-phq9-section.png"))

    bfq = page.locator("section#bfq")
    for item, value in (("bfq_pain_1", "4"), ("bfq_pain_2", "4"), ("bfq_pain_3", "0")):
        bfq.locator(f"input[name={item}][value='{value}']").check()
        expect(page.locator(f"section#bfq input[name={item}][value='{value}']")).to_be_checked()
    expect(page.locator("section#bfq")).to_contain_text(
        "Expected pain relief (barrier strength): 4.0 (a barrier)"
    )
    page.locator("section#bfq").screenshot(path=str(SCREENSHOTS / "10c-assessment-bfq-section.png"))
    page.get_by_role("button", name="Finish and see the summary").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Summary"))).to_be_visible()
    expect(page.get_by_role("alert").first).to_contain_text("Thoughts of death or self-harm")
    expect(page.locator("ul.modules")).to_contain_text("Understanding persistent pain")
    shot(page, "11-assessment-summary")

    page.get_by_role("link", name=re.compile(r"^Patient S002")).click()
    expect(page.get_by_role("heading", name="Safety alerts — open")).to_be_visible()
    page.get_by_label("What was done (required to close the alert)").fill(
        "Asked directly; no plan; crisis numbers given."
    )
    page.get_by_role("button", name="Record and close the alert").click()
    expect(page.get_by_role("heading", name="Safety alerts — open")).to_have_count(0)
    shot(page, "12-patient-program")
    assert page.problems == [], "\n".join(page.problems)


def test_a_clinician_reconciles_plans_acknowledges_and_agrees_a_taper_and_opens_the_calendar(
    page, live_server
):
    expect = playwright_sync.expect
    sign_in(page, live_server)
    page.get_by_role("link", name="S004").click()
    page.get_by_role("link", name="Plan a taper").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Plan a taper"))).to_be_visible()
    # The product as prescribed, co-codamol; the patient takes 2 tablets (60 mg codeine) 4 times a day.
    rows = page.locator("table.reconcile tbody tr")
    cocodamol = rows.filter(has=page.locator("input[value='Co-codamol 30mg/500mg tablets']"))
    tramadol = rows.filter(has=page.locator("input[value='Tramadol 50mg capsules']"))
    expect(cocodamol).to_have_count(1)
    cocodamol.locator("input[name^=dose_]").fill("60")
    cocodamol.locator("input[name^=times_]").fill("4")
    tramadol.locator("input[name^=include_]").uncheck()  # tramadol: planned later, one drug at a time
    page.locator("select[name=market]").select_option("UK")
    shot(page, "13-plan-reconcile")
    page.get_by_role("button", name="Make the plan").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Taper plan: patient S004"))).to_be_visible()
    expect(page.locator("svg.trajectory")).to_be_visible()
    shot(page, "14-plan-draft")
    page.locator("svg.trajectory").screenshot(path=str(SCREENSHOTS / "14b-plan-staircase.png"))
    for form in page.locator("form.ack").all():
        form.get_by_role("textbox").fill("Discussed with the patient; reviewed by the pharmacist.")
        form.get_by_role("button", name="Acknowledge").click()
        page.wait_for_load_state()
    page.get_by_role("button", name="Agree this plan with the patient").click()
    expect(page.locator("p .flag").first).to_have_text("agreed")
    calendar = page.request.get(page.url + "/calendar.pdf")
    assert calendar.status == 200
    assert calendar.body().startswith(b"%PDF-")
    shot(page, "15-plan-agreed")

    # Two follow-ups: moderate withdrawal pauses the plan, then the patient is ready to continue.
    page.get_by_role("link", name="Record a follow-up").click()
    page.get_by_label("COWS (0–48)").fill("14")
    page.get_by_role("button", name="Record the follow-up and adapt the plan").click()
    expect(page.locator("#history-heading")).to_be_visible()
    expect(page.locator("table").filter(has_text="Decision").first).to_contain_text("pause")
    shot(page, "16-plan-after-follow-up")
    page.get_by_role("link", name="Record a follow-up").click()
    page.get_by_label("COWS (0–48)").fill("3")
    page.get_by_role("button", name="Record the follow-up and adapt the plan").click()
    expect(page.locator("#history-heading")).to_be_visible()
    expect(page.locator("table").filter(has_text="Decision").first.locator("tbody tr")).to_have_count(2)
    assert page.request.get(page.url + "/calendar.pdf").body().startswith(b"%PDF-")
    assert page.problems == [], "\n".join(page.problems)
