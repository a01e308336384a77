"""`make bench` (CDS Hooks): hook latency with 20 concurrent callers on loopback, prefetch included.

The app is served by `taperwise serve` (its own process, as deployed) on a free loopback port over a
fresh SQLite store, trusting an EHR whose RSA key is made here. ``BENCH_CDS_CALLERS`` threads (default
20) each make ``BENCH_CDS_CALLS`` calls (default 25) to the patient-view service, every call with its own
freshly signed JWT and a prefetch of twelve prescriptions (opioids, a benzodiazepine, a gabapentinoid,
other medicines), and each response is checked (its cards). Reported: p50 and p95 of the wall time per
call, and beside it, measured side by side in the same run with the same callers, the discovery endpoint
(`GET /cds-services`: the server and JSON with no computation) as the baseline, so the ratio says what
the cards cost. Target (issue 14): p95 ≤ 100 ms. Results are printed as Markdown and written to
bench/results/ for docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from rich.console import Console
from rich.progress import Progress

from bench import write_result

console = Console(stderr=True)
ROOT = Path(__file__).resolve().parent.parent
EHR = "https://ehr.bench.example"
SERVICE = "taperwise-patient-view"
SECRET = "bench-only-kQ3vN8zR1tLw5YpXc7HbJ2mFd9SgUe4A6oTiZ0rVqWn"
MEDICINES = [
    ("fentanyl 75 mcg/hr transdermal patch", 10, 30),
    ("Oxycodone Hydrochloride 5 MG Oral Tablet", 120, 30),
    ("12 HR Oxycodone Hydrochloride 30 MG Extended Release Oral Tablet", 60, 30),
    ("diazepam 5 mg tablet", 30, 30),
    ("gabapentin 300 mg capsule", 90, 30),
    ("metformin 500 mg tablet", 60, 30),
    ("lisinopril 10 mg tablet", 30, 30),
    ("amoxicillin 500 mg capsule", 21, 7),
    ("Acetaminophen 325 MG / Hydrocodone Bitartrate 5 MG Oral Tablet", 90, 30),
    ("Tramadol Hydrochloride 50 MG Oral Tablet", 90, 30),
    ("naloxone 4 mg/0.1 mL nasal spray", 2, None),
    ("morphine 10 mg tablet", 40, None),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _prefetch(patient: str) -> dict[str, Any]:
    today = dt.date.today()
    entries = []
    for number, (text, quantity, days) in enumerate(MEDICINES):
        supply: dict[str, Any] = {"quantity": {"value": quantity}}
        if days:
            supply["expectedSupplyDuration"] = {"value": days, "unit": "days", "system": "http://unitsofmeasure.org",
                                                "code": "d"}  # fmt: skip
        entries.append({"resource": {
            "resourceType": "MedicationRequest", "id": f"m{number}", "status": "active", "intent": "order",
            "subject": {"reference": f"Patient/{patient}"}, "medicationCodeableConcept": {"text": text},
            "authoredOn": (today - dt.timedelta(days=3 + number)).isoformat(),
            "requester": {"reference": "Practitioner/p1"}, "dispenseRequest": supply}})  # fmt: skip
    return {"medicationRequests": {"resourceType": "Bundle", "type": "searchset", "entry": entries},
            "medicationDispenses": None}  # fmt: skip


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(callers: int, calls: int) -> dict[str, list[float]]:
    """Serve the app with `taperwise serve` in its own process (as a deployment runs it), then call it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())) | {"kid": "b1", "alg": "RS384"}
    with tempfile.TemporaryDirectory(prefix="taperwise-bench-cds-") as scratch:
        issuers = Path(scratch) / "issuers.json"
        trusted = {"issuers": [{"iss": EHR, "jwks": {"keys": [public]}}]}
        issuers.write_text(json.dumps(trusted), encoding="utf-8")
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        environment = {k: v for k, v in os.environ.items() if k != "TAPERWISE_DEV"}
        environment |= {"TAPERWISE_SECRET_KEY": SECRET, "TAPERWISE_CDS_ISSUERS": str(issuers)}
        command = [str(Path(sys.executable).parent / "taperwise"), "serve", "--port", str(port),
                   "--db", f"sqlite:///{scratch}/bench.db"]  # fmt: skip
        server = subprocess.Popen(command, env=environment, stderr=subprocess.DEVNULL)
        try:
            _wait_for(base, server)
            return _run(key, base, callers, calls)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_for(base: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"taperwise serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("taperwise serve did not start in a minute")


def _call(client: httpx.Client, key: Any, base: str, patient: str) -> float:
    now = int(time.time())
    claims = {"iss": EHR, "aud": f"{base}/cds-services/{SERVICE}", "iat": now, "exp": now + 240,
              "jti": str(uuid.uuid4())}  # fmt: skip
    signed = jwt.encode(claims, key, algorithm="RS384", headers={"kid": "b1"})
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": patient, "userId": "Practitioner/p1"},
        "prefetch": _prefetch(patient),
    }
    start = time.perf_counter()
    response = client.post(
        f"{base}/cds-services/{SERVICE}", json=body, headers={"Authorization": f"Bearer {signed}"}
    )
    elapsed = time.perf_counter() - start
    if response.status_code != 200 or not response.json()["cards"]:
        raise SystemExit(f"the CDS call failed: {response.status_code} {response.text[:300]}")
    return elapsed


def _discovery(client: httpx.Client, base: str) -> float:
    start = time.perf_counter()
    response = client.get(f"{base}/cds-services")
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"discovery failed: {response.status_code}")
    return elapsed


def _run(key: Any, base: str, callers: int, calls: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"patient-view": [], "discovery": []}
    lock = threading.Lock()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("CDS Hooks calls", total=callers * calls * 2)

        def caller(number: int) -> None:
            with httpx.Client(timeout=30) as client:
                for n in range(calls):  # interleaved, so a busy moment falls on both alike
                    hook = _call(client, key, base, f"bench-{number}-{n}")
                    found = _discovery(client, base)
                    with lock:
                        times["patient-view"].append(hook)
                        times["discovery"].append(found)
                        progress.advance(task, 2)

        with ThreadPoolExecutor(callers) as pool:
            list(pool.map(caller, range(callers)))
    return times


def report(times: dict[str, list[float]], callers: int, calls: int) -> str:
    base50 = statistics.median(times["discovery"])
    base95 = _percentile(times["discovery"], 0.95)
    lines = [
        f"### {dt.datetime.now():%Y-%m-%d %H:%M} — CDS Hooks latency, {callers} concurrent callers × "
        f"{calls} calls",
        "",
        f"Machine: {platform.node()} — {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}. "
        "Loopback HTTP to `taperwise serve` (one process), SQLite store, a fresh RS384 JWT per call, "
        "12 prescriptions "
        "in the prefetch.",
        "",
        "| endpoint | calls | p50 ms | p95 ms | p50 ÷ baseline | p95 ÷ baseline |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, values in times.items():
        p50, p95 = statistics.median(values), _percentile(values, 0.95)
        lines.append(
            f"| {name} | {len(values)} | {p50 * 1000:.1f} | {p95 * 1000:.1f} | {p50 / base50:.1f}× "
            f"| {p95 / base95:.1f}× |"
        )
    return "\n".join(lines)


def main() -> None:
    callers = int(os.environ.get("BENCH_CDS_CALLERS", "20"))
    calls = int(os.environ.get("BENCH_CDS_CALLS", "25"))
    times = measure(callers, calls)
    text = report(times, callers, calls)
    print(text)
    write_result("cds", text)


if __name__ == "__main__":
    main()
