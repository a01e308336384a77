"""taperwise: from EHR prescribing data to an individualised, agreed opioid taper plan."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("taperwise")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
