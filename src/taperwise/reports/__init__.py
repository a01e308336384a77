"""Documents from the domain's results: the patient calendar and the GP/team letter (HTML → PDF).

Templates in `templates/`, rendered by Jinja with autoescaping; WeasyPrint makes the PDF. Nothing here
computes a dose: every number comes from the taper plan.
"""
