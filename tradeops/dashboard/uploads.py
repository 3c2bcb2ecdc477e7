"""Screenshots attached to a confirmation: checked, then stored under ``tickets/<id>/``.

The type is read from the file's first bytes (never from its name or the
browser's claim), the size is capped, and the stored name is made here
(``line<N>-<SYMBOL>-<sha256 prefix>.<ext>``), so an upload can never choose
where it lands.  The final path is resolved and must stay inside the
ticket's folder.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .. import files
from ..errors import ValidationError

MAX_BYTES = 5 * 1024 * 1024
SIGNATURES = (("png", b"\x89PNG\r\n\x1a\n"), ("jpg", b"\xff\xd8\xff"), ("pdf", b"%PDF-"))
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SAFE_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.-]{0,31}$")


def screenshot_kind(content: bytes) -> str:
    """'png', 'jpg', 'webp' or 'pdf'; ValidationError (plain words) for anything else or too big."""
    if len(content) > MAX_BYTES:
        raise ValidationError(
            f"The file is {len(content) / 1024 / 1024:.1f} MB; the limit is {MAX_BYTES // 1024 // 1024} MB. Crop it or take a smaller screenshot."
        )
    if not content:
        raise ValidationError("The file is empty.")
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "webp"
    for ext, magic in SIGNATURES:
        if content.startswith(magic):
            return ext
    raise ValidationError("That file is not a screenshot: upload a PNG, JPEG or WebP image (or a PDF).")


def screenshot_path(tickets_dir: Path, ticket_id: str, line_no: int, symbol: str, content: bytes) -> Path:
    """Where a screenshot of a line is stored; refuses ids or symbols that could leave the folder."""
    if not SAFE_ID.match(ticket_id) or not SAFE_SYMBOL.match(symbol) or ".." in symbol:
        raise ValidationError(f"cannot store a screenshot for ticket {ticket_id!r}, symbol {symbol!r}: unsafe name")
    base = tickets_dir.resolve()
    folder = (base / ticket_id).resolve()
    digest = hashlib.sha256(content).hexdigest()[:16]
    path = (folder / f"line{int(line_no)}-{symbol}-{digest}.{screenshot_kind(content)}").resolve()
    if folder.parent != base or path.parent != folder:
        raise ValidationError(f"screenshot path {path} would leave {base}")
    return path


def save_screenshot(path: Path, content: bytes) -> bool:
    """Write ``content`` at ``path`` (atomically); False when the same file was already there."""
    if path.exists():
        return False
    files.write_atomic(path, content)
    return True
