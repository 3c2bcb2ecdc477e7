"""Screenshots: type from the bytes, a size cap, and a path that cannot leave tickets/<id>/."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.dashboard import uploads
from tradeops.errors import ValidationError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32
PDF = b"%PDF-1.7\n" + b"\x00" * 32


@pytest.mark.parametrize("content,kind", [(PNG, "png"), (JPG, "jpg"), (WEBP, "webp"), (PDF, "pdf")])
def test_kinds_come_from_the_bytes(content, kind):
    assert uploads.screenshot_kind(content) == kind


@pytest.mark.parametrize(
    "content,words",
    [
        (b"", "empty"),
        (b"<svg onload=alert(1)>", "not a screenshot"),
        (b"GIF89a" + b"\x00" * 10, "not a screenshot"),
        (PNG + b"\x00" * uploads.MAX_BYTES, "the limit is 5 MB"),
    ],
)
def test_other_files_are_refused(content, words):
    with pytest.raises(ValidationError, match=words):
        uploads.screenshot_kind(content)


def test_the_stored_name_is_made_here(tmp_path):
    path = uploads.screenshot_path(tmp_path, "TICKET-20240318", 2, "BRK.B", PNG)
    assert path.parent == tmp_path.resolve() / "TICKET-20240318"
    assert path.name.startswith("line2-BRK.B-") and path.suffix == ".png"
    assert uploads.save_screenshot(path, PNG) and path.read_bytes() == PNG
    assert not uploads.save_screenshot(path, PNG)  # the same screenshot again: kept once
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize(
    "ticket_id,symbol", [("../etc", "AAPL"), ("..", "AAPL"), ("T/../../x", "AAPL"), ("TICKET-1", "../A"), ("TICKET-1", "A/B"), ("", "AAPL")]
)
def test_names_that_could_leave_the_folder_are_refused(tmp_path, ticket_id, symbol):
    with pytest.raises(ValidationError, match="unsafe name"):
        uploads.screenshot_path(tmp_path, ticket_id, 1, symbol, PNG)


def test_a_symlinked_ticket_folder_cannot_lead_elsewhere(tmp_path):
    (tmp_path / "tickets").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "tickets" / "TICKET-1").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValidationError, match="would leave"):
        uploads.screenshot_path(tmp_path / "tickets", "TICKET-1", 1, "AAPL", PNG)


@given(st.text(max_size=40), st.text(max_size=12), st.binary(max_size=64))
@settings(max_examples=300)
def test_no_name_or_content_escapes(tmp_path_factory, ticket_id, symbol, tail):
    base = tmp_path_factory.getbasetemp() / "uploads-prop"
    try:
        path = uploads.screenshot_path(base, ticket_id, 1, symbol, PNG + tail)
    except ValidationError:
        return
    assert path.parent.parent == base.resolve()
