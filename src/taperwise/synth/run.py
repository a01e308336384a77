"""Generate a population and write it in one format, with a manifest saying what was made.

The manifest (``<stem>.synth.json`` beside a canonical file, ``synth.json`` inside a FHIR or OMOP
folder) records the seed, window, parameter version and counts — patients, prescriptions, events,
courses by archetype and malformed records by kind — so a test or a benchmark can check its input
without re-deriving it. It holds no timestamp: the same seed gives the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from taperwise import __version__
from taperwise.errors import TaperwiseError
from taperwise.synth.generator import Batch, SynthContext, SynthOptions, generate, make_context
from taperwise.synth.malformed import all_kinds
from taperwise.synth.writers import PopulationWriter
from taperwise.synth.writers.canonical import CanonicalWriter, canonical_paths
from taperwise.synth.writers.fhir import FhirWriter
from taperwise.synth.writers.omop import OmopWriter

FORMATS = ("csv", "fhir", "omop")


@dataclass
class SynthSummary:
    format: str
    patients: int = 0
    prescriptions: int = 0
    events: int = 0
    archetypes: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    paths: list[Path] = field(default_factory=list)
    manifest: Path | None = None

    def add(self, context: SynthContext, batch: Batch) -> None:
        self.patients += len(batch.people)
        self.prescriptions += len(batch.fills)
        self.events += len(batch.events)
        ids = [a.id for a in context.config.archetypes]
        self.archetypes.update(ids[a] for a in batch.people.archetype)
        settings = context.config.parameters.malformed
        applies = all_kinds(settings) if self.format == "fhir" else settings.kinds
        names = all_kinds(settings)
        self.malformed.update(names[k] for k in batch.malformed if k >= 0 and names[k] in applies)


def _writer(context: SynthContext, format: str, output: Path) -> tuple[PopulationWriter, Path]:
    if format == "csv":
        paths = canonical_paths(output)
        manifest = paths["prescriptions"].with_name(f"{paths['prescriptions'].stem}.synth.json")
        return CanonicalWriter(context, output), manifest
    if output.suffix:
        raise TaperwiseError(f"{output}: the {format} output is a folder; give a path without a suffix")
    if format == "fhir":
        return FhirWriter(context, output), output / "synth.json"
    if format == "omop":
        return OmopWriter(context, output), output / "synth.json"
    raise TaperwiseError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")


def _manifest(context: SynthContext, summary: SynthSummary) -> dict[str, object]:
    options = context.options
    return {
        "generator": f"taperwise {__version__} synth",
        "parameters_version": context.config.parameters.version,
        "seed": options.seed,
        "format": summary.format,
        "window": {"start": context.start.isoformat(), "end": context.end.isoformat()},
        "patients": summary.patients,
        "prescriptions": summary.prescriptions,
        "events": summary.events,
        "archetypes": dict(sorted(summary.archetypes.items())),
        "malformed": dict(sorted(summary.malformed.items())),
        "files": [path.name for path in summary.paths],
    }


def synthesize(
    options: SynthOptions, format: str, output: Path, on_batch: Callable[[Batch], None] | None = None
) -> SynthSummary:
    """Generate `options.patients` patients and write them as `format` ('csv', 'fhir', 'omop') to `output`."""
    if format not in FORMATS:
        raise TaperwiseError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    context = make_context(options)
    writer, manifest = _writer(context, format, output)
    summary = SynthSummary(format)
    try:
        for batch in generate(context):
            writer.write(batch)
            summary.add(context, batch)
            if on_batch is not None:
                on_batch(batch)
    finally:
        summary.paths = writer.close()
    summary.manifest = manifest
    manifest.write_text(json.dumps(_manifest(context, summary), indent=2) + "\n", encoding="utf-8")
    return summary
