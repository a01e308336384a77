"""Exchange with other systems: FHIR R4 out (fhir_plan.py)."""
