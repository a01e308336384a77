"""EHR exports (FHIR R4, OMOP CDM, CSV/Parquet) to canonical prescriptions, patients and events.

Every source record either becomes a canonical row or a line in the problems file: nothing is dropped
without a trace.
"""
