"""taperwise: from EHR prescribing data to an individualised, agreed opioid taper plan."""

# The one place the version is written: the package build reads it from here (pyproject.toml,
# [tool.hatch.version]), and `taperwise --version` prints it without asking the installed metadata.
__version__ = "0.1.0"
