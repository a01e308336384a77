"""Where the files that travel together live: an output and the files written beside it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from taperwise.errors import UnusableInputError


def sibling(path: Path, part: str, suffix: str | None = None) -> Path:
    """``out/rx.parquet`` → ``out/rx.patients.parquet``."""
    return path.with_name(f"{path.stem}.{part}{suffix or path.suffix}")


def make_folder_for(path: Path) -> None:
    """The folder `path` goes in, made when missing; refused, naming `path`, when it cannot be."""
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise UnusableInputError(f"{path}: cannot be written ({folder} is a file, not a folder)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnusableInputError(f"{path}: cannot be written ({exc.strerror or exc})") from exc


def check_not_input(input: Path, *outputs: Path) -> None:
    """Refuse an output that would be written over the input: the input would be lost as it is read.

    The same file is the same file on disk (device and inode: a symbolic or hard link, another spelling
    of the path, another letter case where the file system ignores it); a ``file:`` URI is its path.
    """
    source = Path(re.sub(r"^file:(//)?", "", str(input)))
    for output in outputs:
        if output.exists() and source.exists() and os.path.samefile(output, source):
            raise UnusableInputError(f"{output}: is the input file; write the output to another file")
