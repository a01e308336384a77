"""The CDS Hooks services as an EHR calls them: spec-shaped requests signed with a real RS384 key.

Done-when of issue 14: a 75 µg/h fentanyl patch gives a warning card at 180 MME/day (never 504) and 15
MME/day none; calls without a valid JWT are refused unless the development flag is set. Also: orders
counted as if signed, prescriptions that exist only in prefetch, missing prefetch (412, or read from a
loopback FHIR server with the access token), malformed bundles, unknown drugs, expired tokens, feedback
and the override report, the taper plan card with its link, and the audit of every patient read.

Most tests need no registry: they run on a fresh SQLite store (`cds`); those about what the store holds
(a plan, the audit, feedback) run on SQLite and PostgreSQL with the registry of examples/.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select

from taperwise.store.models import AuditEvent, CdsCard, CdsFeedback
from taperwise.web import create_app
from taperwise.web.app import WebConfigError
from tests.web.conftest import SECRET, csrf_of, patient_ids, sign_in

EHR = "https://ehr.example.org"
BASE = "https://testserver"
TODAY = dt.date.today()
FENTANYL_75 = "fentanyl 75 mcg/hr transdermal patch"
OXY_5 = "Oxycodone Hydrochloride 5 MG Oral Tablet"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def issuers(tmp_path_factory: pytest.TempPathFactory, key: rsa.RSAPrivateKey) -> Path:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())) | {"kid": "k1", "alg": "RS384"}
    path = tmp_path_factory.mktemp("cds") / "issuers.json"
    path.write_text(
        json.dumps({"issuers": [{"iss": EHR, "organisation": "ORG-A", "jwks": {"keys": [public]}}]})
    )
    return path


def token(key: rsa.RSAPrivateKey, service: str, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": EHR, "aud": f"{BASE}/cds-services/{service}", "iat": now, "exp": now + 240,
              "jti": str(uuid.uuid4())} | changes  # fmt: skip
    return jwt.encode(claims, key, algorithm="RS384", headers={"kid": "k1", "typ": "JWT"})


@pytest.fixture(scope="module")
def cds(tmp_path_factory: pytest.TempPathFactory, issuers: Path) -> Iterator[TestClient]:
    """The app over a fresh SQLite store (no registry), trusting the test EHR."""
    path = tmp_path_factory.mktemp("cds-store") / "app.db"
    app = create_app(f"sqlite:///{path}", secret_key=SECRET, cds_issuers=str(issuers))
    with TestClient(app, base_url=BASE) as client:
        yield client
    app.state.store.close()


def post(client: TestClient, key: rsa.RSAPrivateKey, service: str, body: Any, **claims: Any) -> Any:
    headers = {"Authorization": f"Bearer {token(key, service, **claims)}"}
    if isinstance(body, (bytes, str)):
        return client.post(f"/cds-services/{service}", content=body, headers=headers)
    return client.post(f"/cds-services/{service}", json=body, headers=headers)


def request(i: str, text: str, quantity: float, days: int | None = 30, *, patient: str = "pat-1",
            authored: dt.date | None = None, requester: str = "Practitioner/dr-1", status: str = "active",
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    supply: dict[str, Any] = {"quantity": {"value": quantity}}
    if days is not None:
        supply["expectedSupplyDuration"] = {"value": days, "unit": "days", "system": "http://unitsofmeasure.org",
                                            "code": "d"}  # fmt: skip
    return {
        "resourceType": "MedicationRequest", "id": i, "status": status, "intent": "order",
        "subject": {"reference": f"Patient/{patient}"}, "medicationCodeableConcept": {"text": text},
        "authoredOn": (authored or TODAY - dt.timedelta(days=5)).isoformat(),
        "requester": {"reference": requester}, "dispenseRequest": supply, **extra,
    }  # fmt: skip


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def patient_view(*requests: dict[str, Any], patient: str = "pat-1", **prefetch: Any) -> dict[str, Any]:
    return {
        "hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": "https://ehr.example.org/fhir",
        "context": {"userId": "Practitioner/dr-1", "patientId": patient},
        "prefetch": {"medicationRequests": bundle(*requests), "medicationDispenses": None, **prefetch},
    }  # fmt: skip


def summaries(response: Any) -> dict[str, tuple[str, str]]:
    assert response.status_code == 200, response.text
    return {c["source"]["topic"]["code"]: (c["indicator"], c["summary"]) for c in response.json()["cards"]}


def test_discovery_lists_the_three_hooks_with_their_prefetch(cds: TestClient) -> None:
    services = cds.get("/cds-services").json()["services"]
    assert [s["hook"] for s in services] == ["patient-view", "order-select", "order-sign"]
    for service in services:
        assert service["id"]
        assert service["description"]
        assert service["prefetch"]["medicationRequests"] == "MedicationRequest?patient={{context.patientId}}"


def test_a_75_microgram_fentanyl_patch_is_a_warning_at_180_mme_never_504(cds: TestClient, key: Any) -> None:
    body = patient_view(request("fen", FENTANYL_75, 10, 30))
    response = post(cds, key, "taperwise-patient-view", body)
    cards = summaries(response)
    assert cards["mme-high"] == ("warning", "180 MME/day: at or above 90 MME/day")
    card = next(c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "mme-high")
    assert "fentanyl 75 mcg/hr transdermal patch: 180 MME/day" in card["detail"]
    assert "factor set cdc-2022" in card["detail"]
    assert "504" not in response.text
    assert card["source"]["url"].startswith("https://www.cdc.gov/")
    assert {r["display"] for r in card["overrideReasons"]} >= {
        "Palliative, end-of-life or active cancer care"
    }
    assert len(card["summary"]) < 140


def test_15_mme_gives_no_warning(cds: TestClient, key: Any) -> None:
    body = patient_view(request("oxy", OXY_5, 60, 30))  # 5 mg twice a day: 15 MME/day
    cards = summaries(post(cds, key, "taperwise-patient-view", body))
    assert not any(indicator != "info" for indicator, _ in cards.values()), cards
    assert "mme-high" not in cards
    assert "mme-caution" not in cards


def test_orders_are_counted_as_if_signed_and_a_new_prescriber_is_told(cds: TestClient, key: Any) -> None:
    draft = request("draft-1", "72 HR Fentanyl 0.025 MG/HR Transdermal System", 10, 30, status="draft",
                    requester="Practitioner/dr-new")  # fmt: skip
    del draft["authoredOn"]  # a draft says nothing of when: it starts today
    body = {
        "hook": "order-sign", "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-new", "patientId": "pat-1", "draftOrders": bundle(draft)},
        "prefetch": {"medicationRequests": bundle(request("old", OXY_5, 120, 30)),
                     "medicationDispenses": None},
    }  # fmt: skip
    cards = summaries(post(cds, key, "taperwise-order-sign", body))
    # 30 MME of oxycodone + 60 MME of the drafted patch = 90 with the order
    assert cards["mme-high"] == ("warning", "90 MME/day with the draft order: at or above 90 MME/day")
    assert cards["inherited"][0] == "info"
    assert "none from you" in cards["inherited"][1]


def test_an_order_of_another_kind_gives_no_card(cds: TestClient, key: Any) -> None:
    draft = request("amox", "amoxicillin 500 mg capsule", 21, 7, status="draft")
    body = {
        "hook": "order-select", "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": "pat-1", "draftOrders": bundle(draft),
                    "selections": ["MedicationRequest/amox"]},
        "prefetch": {"medicationRequests": bundle(request("fen", FENTANYL_75, 10, 30)),
                     "medicationDispenses": None},
    }  # fmt: skip
    assert summaries(post(cds, key, "taperwise-order-select", body)) == {}


def test_prescriptions_that_exist_only_in_prefetch_dispenses_are_counted(cds: TestClient, key: Any) -> None:
    dispense = {
        "resourceType": "MedicationDispense", "id": "d1", "status": "completed",
        "subject": {"reference": "Patient/pat-1"}, "medicationCodeableConcept": {"text": FENTANYL_75},
        "quantity": {"value": 10}, "daysSupply": {"value": 30, "unit": "days"},
        "whenHandedOver": (TODAY - dt.timedelta(days=3)).isoformat(),
    }  # fmt: skip
    body = patient_view(medicationDispenses=bundle(dispense))
    assert summaries(post(cds, key, "taperwise-patient-view", body))["mme-high"][1].startswith("180 MME/day")


def test_opioid_with_benzodiazepine_and_gabapentin_is_one_critical_card_and_naloxone_is_offered(
    cds: TestClient, key: Any
) -> None:
    body = patient_view(
        request("oxy", OXY_5, 60, 30), request("dz", "diazepam 5 mg tablet", 30, 30),
        request("gaba", "gabapentin 300 mg capsule", 90, 30),
    )  # fmt: skip
    response = post(cds, key, "taperwise-patient-view", body)
    cards = summaries(response)
    assert cards["triple-threat"] == ("critical", "An opioid, a benzodiazepine and a gabapentinoid together")
    assert "opioid-benzodiazepine" not in cards  # superseded by the triple threat
    naloxone = next(c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "naloxone")
    assert naloxone["selectionBehavior"] == "at-most-one"
    action = naloxone["suggestions"][0]["actions"][0]
    assert action["type"] == "create"
    assert action["resource"]["resourceType"] == "MedicationRequest"
    assert action["resource"]["subject"] == {"reference": "Patient/pat-1"}
    assert "benzodiazepine" in naloxone["detail"]


def test_naloxone_on_record_is_not_offered_again(cds: TestClient, key: Any) -> None:
    body = patient_view(
        request("fen", FENTANYL_75, 10, 30),
        request("nx", "naloxone 4 mg/0.1 mL nasal spray", 2, None, authored=TODAY - dt.timedelta(days=200)),
    )
    assert "naloxone" not in summaries(post(cds, key, "taperwise-patient-view", body))


def test_an_opioid_whose_dose_cannot_be_computed_makes_the_total_a_lower_bound(
    cds: TestClient, key: Any
) -> None:
    body = patient_view(request("oxy", OXY_5, 60, 30), request("morph", "morphine 10 mg tablet", 40, None))
    response = post(cds, key, "taperwise-patient-view", body)
    cards = summaries(response)
    assert cards["mme-unknown"] == ("warning", "Opioid dose not fully known: at least 15 MME/day")
    detail = next(
        c["detail"] for c in response.json()["cards"] if c["source"]["topic"]["code"] == "mme-unknown"
    )
    assert "morphine 10 mg tablet" in detail
    assert "could not be computed" in detail


def test_an_unknown_drug_is_shown_as_not_recognised_never_as_zero(cds: TestClient, key: Any) -> None:
    body = patient_view(request("fen", FENTANYL_75, 10, 30), request("zz", "Zzzoxy 10 mg tablet", 30, 30))
    response = post(cds, key, "taperwise-patient-view", body)
    cards = summaries(response)
    assert cards["unrecognised-medicines"][1] == "1 current medicine(s) not recognised: not in the MME total"
    assert "Zzzoxy 10 mg tablet" in response.json()["cards"][0]["detail"]


def test_a_malformed_resource_is_named_and_the_rest_is_counted(cds: TestClient, key: Any) -> None:
    broken = {"resourceType": "MedicationRequest", "id": "x", "status": "active", "intent": "order",
              "subject": {"reference": "Patient/pat-1"}}  # fmt: skip
    other = request("theirs", FENTANYL_75, 10, 30, patient="someone-else")
    body = patient_view(request("fen", FENTANYL_75, 10, 30), broken, other)
    response = post(cds, key, "taperwise-patient-view", body)
    card = response.json()["cards"][0]
    assert card["summary"].startswith("180 MME/day")  # the other patient's patch is not counted
    assert "MedicationRequest/theirs is for another patient" in card["detail"]
    assert "entry[1]" in card["detail"]  # the request with no medication


def test_every_record_not_read_is_counted_in_the_detail(cds: TestClient, key: Any) -> None:
    broken = [
        {"resourceType": "MedicationRequest", "id": f"x{n}", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/pat-1"}}
        for n in range(25)
    ]  # fmt: skip
    response = post(
        cds, key, "taperwise-patient-view", patient_view(request("fen", FENTANYL_75, 10, 30), *broken)
    )
    detail = response.json()["cards"][0]["detail"]
    assert detail.count("\n- entry[") == 20
    assert "- and 5 more records not read" in detail


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ({"hook": "patient-view", "hookInstance": "h", "context": {}}, "context.patientId is required"),
        ({"hook": "order-sign", "hookInstance": "h", "context": {"patientId": "p"}},
         "must be 'patient-view'"),
        ({"hook": "patient-view", "hookInstance": "h", "context": {"patientId": "a/b"}}, "not a FHIR id"),
        ({"hook": "patient-view", "hookInstance": "h", "context": {"patientId": "p"},
          "prefetch": {"medicationRequests": [1, 2]}}, "prefetch.medicationRequests must be"),
    ],
)  # fmt: skip
def test_malformed_calls_are_refused_naming_the_field(
    cds: TestClient, key: Any, body: Any, problem: str
) -> None:
    response = post(cds, key, "taperwise-patient-view", body)
    assert response.status_code == 400
    assert problem in response.json()["detail"]


def test_malformed_draft_orders_are_refused(cds: TestClient, key: Any) -> None:
    body = {
        "hook": "order-sign",
        "hookInstance": "h",
        "context": {"patientId": "p", "draftOrders": {"entry": []}},
    }
    response = post(cds, key, "taperwise-order-sign", body)
    assert response.status_code == 400
    assert response.json()["detail"] == "context.draftOrders must be a FHIR Bundle"
    selecting = {
        "hook": "order-select",
        "hookInstance": "h",
        "context": {
            "patientId": "p",
            "draftOrders": bundle(request("a", OXY_5, 1)),
            "selections": ["MedicationRequest/b"],
        },
    }
    assert "not in draftOrders" in post(cds, key, "taperwise-order-select", selecting).json()["detail"]


def test_missing_prefetch_without_fhir_access_is_412(cds: TestClient, key: Any) -> None:
    body = {"hook": "patient-view", "hookInstance": "h", "context": {"patientId": "pat-1"}}
    response = post(cds, key, "taperwise-patient-view", body)
    assert response.status_code == 412
    assert "medicationRequests" in response.json()["detail"]


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"exp": int(time.time()) - 400, "iat": int(time.time()) - 600}, "has expired"),
        ({"aud": f"{BASE}/cds-services/taperwise-order-sign"}, "another audience"),
        ({"iss": "https://attacker.example"}, "is not trusted"),
    ],
)
def test_calls_without_a_valid_token_are_refused(
    cds: TestClient, key: Any, claims: Any, problem: str
) -> None:
    response = post(cds, key, "taperwise-patient-view", patient_view(), **claims)
    assert response.status_code == 401
    assert problem in response.json()["detail"]
    unsigned = cds.post("/cds-services/taperwise-patient-view", json=patient_view())
    assert unsigned.status_code == 401
    assert "missing bearer token" in unsigned.json()["detail"]


def test_no_auth_is_refused_outside_developer_mode_and_loud_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("TAPERWISE_DEV", raising=False)
    with pytest.raises(WebConfigError, match="developer's machine only"):
        create_app(f"sqlite:///{tmp_path}/a.db", secret_key=SECRET, cds_no_auth=True)
    monkeypatch.setenv("TAPERWISE_DEV", "1")
    app = create_app(f"sqlite:///{tmp_path}/b.db", cds_no_auth=True)
    assert "CDS HOOKS AUTHENTICATION IS OFF" in caplog.text
    with TestClient(app, base_url=BASE) as client:
        response = client.post(
            "/cds-services/taperwise-patient-view", json=patient_view(request("f", FENTANYL_75, 10))
        )
        assert response.status_code == 200
        assert response.json()["cards"][0]["summary"].startswith("180 MME/day")
    app.state.store.close()
    no_issuers = create_app(f"sqlite:///{tmp_path}/c.db", cds_issuers=None)
    with TestClient(no_issuers, base_url=BASE) as client:
        refused = client.post("/cds-services/taperwise-patient-view", json=patient_view())
        assert refused.status_code == 401
        assert "trusts no EHR yet" in refused.json()["detail"]
    no_issuers.state.store.close()


class _Fhir(BaseHTTPRequestHandler):
    """A loopback FHIR server standing in for the EHR's: two pages of MedicationRequests, bearer only."""

    pages: ClassVar[dict[str, dict[str, Any]]] = {}
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        if self.headers.get("Authorization") != "Bearer fhir-token":
            self.send_response(401)
            self.end_headers()
            return
        page = type(self).pages.get(self.path)
        body = json.dumps(page or {"resourceType": "Bundle", "type": "searchset", "entry": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def fhir_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fhir)
    base = f"http://127.0.0.1:{server.server_port}/fhir"
    second = f"{base}/MedicationRequest?patient=pat-1&page=2"
    _Fhir.pages = {
        "/fhir/MedicationRequest?patient=pat-1": bundle(request("p1", OXY_5, 60, 30))
        | {"link": [{"relation": "next", "url": second}]},
        "/fhir/MedicationRequest?patient=pat-1&page=2": bundle(request("p2", FENTANYL_75, 10, 30)),
    }
    _Fhir.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()


def test_missing_prefetch_is_read_from_the_fhir_server_with_the_access_token(
    cds: TestClient, key: Any, fhir_server: str
) -> None:
    body = {
        "hook": "patient-view", "hookInstance": "h",
        "context": {"patientId": "pat-1", "userId": "Practitioner/dr-1"},
        "fhirServer": fhir_server,
        "fhirAuthorization": {"access_token": "fhir-token", "token_type": "Bearer", "expires_in": 300,
                              "scope": "user/MedicationRequest.read", "subject": "taperwise"},
    }  # fmt: skip
    cards = summaries(post(cds, key, "taperwise-patient-view", body))
    assert cards["mme-high"][1] == "195 MME/day: at or above 90 MME/day"  # 15 on page 1 + 180 on page 2
    assert "/fhir/MedicationRequest?patient=pat-1&page=2" in _Fhir.seen
    body["fhirAuthorization"]["access_token"] = "wrong"
    refused = post(cds, key, "taperwise-patient-view", body)
    assert refused.status_code == 412
    assert "HTTP 401" in refused.json()["detail"]


@pytest.fixture
def store_app(store_url: str, issuers: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app over the registry of examples/ (SQLite and PostgreSQL), trusting the test EHR for ORG-A."""
    monkeypatch.delenv("TAPERWISE_DEV", raising=False)
    app = create_app(store_url, secret_key=SECRET, cds_issuers=str(issuers))
    with TestClient(app, base_url=BASE) as client:
        yield client
    app.state.store.close()


def test_a_known_patients_read_is_audited_and_an_agreed_plan_is_a_card_with_its_link(
    store_app: TestClient, key: Any
) -> None:
    sign_in(store_app, "dr.avery")
    number = patient_ids(store_app)["S001"]
    from tests.web.test_plan_pages import _agreed

    _, page = _agreed(store_app)
    response = post(
        store_app, key, "taperwise-patient-view", patient_view(request("o", OXY_5, 60, 30), patient="S001")
    )
    cards = summaries(response)
    assert cards["plan-exists"][0] == "info"
    assert "now step" in cards["plan-exists"][1]
    card = next(c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "plan-exists")
    assert card["links"] == [
        {"label": "Open the taper plan in taperwise", "url": f"{BASE}{page}", "type": "absolute"}
    ]
    with store_app.app.state.store.session() as s:  # type: ignore[attr-defined]
        reads = s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "patient",
                                                   AuditEvent.username == f"ehr:{EHR}")).all()  # fmt: skip
        assert [event.entity_id for event in reads] == [str(number)]
        assert reads[0].action == "view"
        unknown = post(store_app, key, "taperwise-patient-view", patient_view(patient="nobody-here"))
        assert unknown.status_code == 200
        misses = s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "cds_patient")).all()
        assert [event.entity_id for event in misses] == ["nobody-here"]


def test_feedback_is_recorded_and_the_override_report_counts_it(store_app: TestClient, key: Any) -> None:
    response = post(store_app, key, "taperwise-patient-view", patient_view(request("f", FENTANYL_75, 10, 30)))
    cards = {c["source"]["topic"]["code"]: c for c in response.json()["cards"]}
    high, naloxone = cards["mme-high"], cards["naloxone"]
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    feedback = {"feedback": [
        {"card": high["uuid"], "outcome": "overridden", "outcomeTimestamp": now,
         "overrideReason": {"reason": high["overrideReasons"][1], "userComment": "hospice"}},
        {"card": naloxone["uuid"], "outcome": "accepted", "outcomeTimestamp": now,
         "acceptedSuggestions": [{"id": naloxone["suggestions"][0]["uuid"]}]},
    ]}  # fmt: skip
    headers = {"Authorization": f"Bearer {token(key, 'taperwise-patient-view/feedback')}"}
    recorded = store_app.post("/cds-services/taperwise-patient-view/feedback", json=feedback, headers=headers)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json() == {"recorded": 2}
    bad = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": now}]}
    headers = {"Authorization": f"Bearer {token(key, 'taperwise-patient-view/feedback')}"}
    refused = store_app.post("/cds-services/taperwise-patient-view/feedback", json=bad, headers=headers)
    assert refused.status_code == 400
    assert "is not a card this service returned" in refused.json()["detail"]
    with store_app.app.state.store.session() as s:  # type: ignore[attr-defined]
        assert len(s.scalars(select(CdsFeedback)).all()) == 2  # the refused POST recorded nothing
        assert {card.rule_id for card in s.scalars(select(CdsCard))} >= {"mme-high", "naloxone"}
    sign_in(store_app, "ana.lyst")
    report = {row["card"]: row for row in store_app.get("/api/cds/overrides").json()["cards"]}
    assert report["mme-high"]["overridden"] == 1
    assert report["mme-high"]["override_rate"] == 1.0
    assert report["mme-high"]["reasons"] == [
        {"reason": "Palliative, end-of-life or active cancer care", "count": 1}
    ]
    assert report["naloxone"]["accepted"] == 1
    page = store_app.get("/cds/overrides").text
    assert "<bdi>Palliative, end-of-life or active cancer care</bdi> (1)" in page
    assert "S001" not in page
    other = TestClient(store_app.app, base_url=BASE)
    sign_in(other, "dr.other")  # another organisation: none of ORG-A's cards
    assert other.get("/api/cds/overrides").json()["cards"] == []
    assert csrf_of(other)


def test_caution_benzodiazepine_and_long_term_cards(cds: TestClient, key: Any) -> None:
    """60 MME/day of oxycodone for three months with diazepam: caution, opioid + benzodiazepine, and
    long-term therapy with no plan or review in taperwise."""
    fills = [
        request(f"o{n}", OXY_5, 240, 30, authored=TODAY - dt.timedelta(days=30 * n + 5)) for n in range(3)
    ]
    body = patient_view(*fills, request("dz", "diazepam 5 mg tablet", 30, 30))
    cards = summaries(post(cds, key, "taperwise-patient-view", body))
    assert cards["mme-caution"] == ("info", "Caution: 60 MME/day, at or above 50 MME/day")
    assert cards["opioid-benzodiazepine"] == ("warning", "An opioid and a benzodiazepine together")
    assert cards["ltot-no-review"][0] == "info"
    assert cards["naloxone"][0] == "warning"


def test_every_card_rule_is_exercised_here() -> None:
    from taperwise.knowledge.cds import load_card_rules

    text = Path(__file__).read_text(encoding="utf-8")
    assert [rule.id for rule in load_card_rules().cards if f'"{rule.id}"' not in text] == []
