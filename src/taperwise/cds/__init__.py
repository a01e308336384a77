"""CDS Hooks 2.0 services: from an EHR's hook call to cards (docs/cds-hooks.md).

- `calls`: the request read and checked (`HookCall`), naming the field of anything malformed;
- `exposure`: the call's FHIR resources through the FHIR ingest and the exposure engine's own per-row MME
  (compiled once, `taperwise.exposure.compiled`), summed on the day of the call (`HookExposure`);
- `cards`: the facts of the call, the card rules (data: knowledge/data/cds) and the cards they give;
- `fhir_reads`: FHIR reads against the EHR's `fhirServer` when a prefetch key was not sent.
The web layer (`taperwise.web.cds`) checks the EHR's JWT, adds what the store knows of the patient, and
records the cards and the feedback.
"""
