"""Synthetic EHR exports for the demo, the tests and the benchmarks (`taperwise synth`).

Public API: :func:`synthesize` (generate and write one format), :class:`SynthOptions`, and for
in-memory use :func:`make_context` / :func:`generate` (batches of numpy arrays). Courses, product mixes
and rates are data in ``knowledge/data/synth/``; see docs/synth.md.
"""

from taperwise.synth.generator import SynthOptions, generate, make_context
from taperwise.synth.run import FORMATS, SynthSummary, synthesize

__all__ = ["FORMATS", "SynthOptions", "SynthSummary", "generate", "make_context", "synthesize"]
