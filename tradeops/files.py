"""Every file the package writes goes through here (tests/test_architecture.py forbids
``os.replace``, ``write_text``, ``write_bytes`` and ``open(..., "w")`` elsewhere).

Atomic writes: a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def open_atomic(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: a temporary file in the same folder, moved
    over ``path`` when the block ends without an exception (deleted otherwise)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    raw = data.encode() if isinstance(data, str) else data
    with open_atomic(path) as fh:
        fh.write(raw)
    return Path(path)


def write_json(path: str | Path, obj, **dumps) -> Path:
    """``obj`` as indented JSON with a final newline, written atomically (``dumps``: json.dumps options)."""
    return write_atomic(path, json.dumps(obj, indent=2, **dumps) + "\n")


def create_new(path: str | Path, data: bytes, read_only: bool = False) -> Path:
    """Write ``data`` to a new file ``path``, complete or not at all; FileExistsError if
    ``path`` exists (never overwritten).  ``read_only``: the file is created mode 0444."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if read_only:
            os.chmod(tmp, 0o444)
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path


def move_into(source: str | Path, target: str | Path) -> Path:
    """Move the finished file ``source`` over ``target`` atomically (same file system)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return target


def write_control(path: str | Path, text: str) -> None:
    """Write ``text`` to a kernel control file (``/proc/...``), which holds no data to keep whole:
    written in place, since such a file cannot be replaced by a rename."""
    with open(path, "w") as fh:
        fh.write(text)
