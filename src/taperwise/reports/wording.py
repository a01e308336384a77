"""US and UK wording for the documents a patient and a practice read: words, dates, whom to call.

The market comes from the plan (`request.market`); a plan made for both markets names none, and then the
command says which wording it used. Emergency and advice numbers are the national services' own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Wording:
    market: str
    primary_care: str  # the clinician who holds the prescription
    practice: str
    paracetamol: str
    emergency: str  # what to do in an emergency, in one sentence
    crisis: str  # mental health crisis lines
    advice: str  # non-urgent advice out of hours
    dose_measure: str  # the measure the registry and letters use
    week_starts_monday: bool
    drug_names: dict[str, str]

    def day(self, value: date) -> str:
        """Monday 3 February 2025 (UK) / Monday, February 3, 2025 (US)."""
        if self.market == "UK":
            return f"{value:%A} {value.day} {value:%B %Y}"
        return f"{value:%A}, {value:%B} {value.day}, {value.year}"

    def short_day(self, value: date) -> str:
        return (
            f"{value.day} {value:%b %Y}" if self.market == "UK" else f"{value:%b} {value.day}, {value.year}"
        )

    def drug(self, text: str) -> str:
        """A name in this market's words (acetaminophen → paracetamol in the UK)."""
        for name, local in self.drug_names.items():
            text = text.replace(name, local)
        return text


US = Wording(
    market="US",
    primary_care="primary care clinician",
    practice="clinic",
    paracetamol="acetaminophen",
    emergency="If someone cannot be woken, is breathing very slowly or not at all: call 911, give naloxone, "
    "and stay with them.",
    crisis="988 Suicide & Crisis Lifeline: call or text 988.",
    advice="Poison Help: 1-800-222-1222.",
    dose_measure="morphine milligram equivalents (MME) a day",
    week_starts_monday=False,
    drug_names={"paracetamol": "acetaminophen"},
)
UK = Wording(
    market="UK",
    primary_care="GP",
    practice="practice",
    paracetamol="paracetamol",
    emergency="If someone cannot be woken, is breathing very slowly or not at all: call 999, give naloxone, "
    "and stay with them.",
    crisis="NHS 111, then press 2 for mental health; Samaritans: 116 123.",
    advice="NHS 111 for urgent advice when the practice is closed.",
    dose_measure="oral morphine equivalent (mg a day)",
    week_starts_monday=True,
    drug_names={"acetaminophen": "paracetamol"},
)
WORDINGS = {"US": US, "UK": UK}
