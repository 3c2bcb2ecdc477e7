"""Hashes and version facts for the run manifest and the ticket's version hash.

``code_hash`` covers the package's source (Python, templates, schemas) so it
is defined with or without git; ``git_state`` adds the commit and whether the
tree was dirty when git is available.
"""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_CODE_SUFFIXES = {".py", ".j2", ".json", ".ini", ".mako", ".md"}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(root: str | Path, suffixes: set[str] | None = None) -> str:
    """Hash of every file under ``root`` (relative path + content), order-independent of the OS."""
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        if "__pycache__" in p.parts or (suffixes and p.suffix not in suffixes):
            continue
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(sha256_file(p).encode() + b"\n")
    return h.hexdigest()


def file_hashes(folder: str | Path, exclude: tuple[str, ...] = ("manifest.json",)) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file under ``folder`` (a run folder's inventory)."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file() and p.relative_to(folder).as_posix() not in exclude
    }


def changed_files(folder: str | Path, recorded: dict[str, str], exclude: tuple[str, ...] = ("manifest.json",)) -> list[str]:
    """Each file of ``folder`` that differs from ``recorded``, named: changed, missing or added."""
    now = file_hashes(folder, exclude)
    out = [f"{name} changed" for name in sorted(recorded) if name in now and now[name] != recorded[name]]
    out += [f"{name} missing" for name in sorted(recorded) if name not in now]
    out += [f"{name} added (not in the manifest)" for name in sorted(now) if name not in recorded]
    return out


@lru_cache(maxsize=1)
def code_hash() -> str:
    """sha256 of the tradeops package source."""
    return sha256_tree(PACKAGE_DIR, _CODE_SUFFIXES)


def version_hash(code: str, config: str, data: str, model: str = "") -> str:
    """The ticket's version hash: code + config + data (+ the trained model's id, for a signal
    that scores with one: a different fit is a different version)."""
    return sha256_bytes(f"{code}:{config}:{data}".encode() + (f":{model}".encode() if model else b""))


def git_state(path: str | Path = PACKAGE_DIR) -> dict:
    """{'commit': sha or None, 'dirty': bool or None} for the checkout holding ``path``."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}
