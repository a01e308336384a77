"""The Individualized Opioid Cessation program: instruments and their scoring, the assessment → module
rules, programme templates and the session plan, and the REDCap data dictionary of the instruments.

Pure functions over the data in `taperwise.knowledge` (instruments, modules, templates, rules); no HTTP,
no database, no global state — the store and the web app call these and record what they return.
"""
