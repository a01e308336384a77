"""The newcomer's path in a real browser: sign in, filter to ≥ 90 MME, open a patient, see the picture.

Debian's Chromium (/usr/bin/chromium) driven by Playwright against a real uvicorn server on 127.0.0.1
(a free port) over a store loaded with the registry of examples/prescriptions.csv. Playwright never
downloads a browser here. Screenshots go to test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from taperwise.web import create_app
from tests.web.conftest import PASSWORD, ROOT, SECRET, StoreTemplate

playwright_sync = pytest.importorskip("playwright.sync_api")
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


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.problems = problems
    yield tab
    context.close()


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
    prescribers = page.locator("section", has=page.get_by_role("heading", name=re.compile("By prescriber")))
    expect(prescribers.locator("caption")).to_have_text(
        ["Prescriber DR-B", "Prescriber DR-C", "Prescriber DR-A"]
    )
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
    pharmacies = page.locator("section", has=page.get_by_role("heading", name=re.compile("By pharmacy")))
    expect(pharmacies.locator("caption")).to_have_count(3)
    expect(page.locator("svg.trajectory .harm title")).to_have_text(["opioid overdose on 2025-03-10"])
    expect(page.get_by_role("note", name="Opioid with a benzodiazepine")).to_be_visible()
    shot(page, "05-patient-s001-search")
    page.emulate_media(media="print")
    expect(page.locator("form.filters")).to_have_count(0)
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
    expect(checklist.get_by_role("checkbox")).to_have_count(4)
    expect(checklist).to_contain_text("prescription monitoring")
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
