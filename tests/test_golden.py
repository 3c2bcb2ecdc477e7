"""The golden-file checker (tests/golden.py): it never overwrites a golden file."""

from __future__ import annotations

import pytest

from . import golden


def test_a_difference_fails_with_the_diff_and_leaves_the_golden_alone(tmp_path, monkeypatch):
    monkeypatch.delenv(golden.ENV, raising=False)
    path = tmp_path / "t.md"
    path.write_text("cash 100.00\n")
    golden.check(path, "cash 100.00\n")  # equal: passes
    with pytest.raises(pytest.fail.Exception, match=r"(?s)differs.*-cash 100.00.*\+cash 99.00"):
        golden.check(path, "cash 99.00\n")
    assert path.read_text() == "cash 100.00\n" and not (tmp_path / "t.md.new").exists()


def test_regeneration_writes_beside_the_golden_and_still_fails(tmp_path, monkeypatch):
    monkeypatch.setenv(golden.ENV, "1")
    monkeypatch.delenv("CI", raising=False)
    path = tmp_path / "t.md"
    path.write_text("cash 100.00\n")
    with pytest.raises(pytest.fail.Exception, match="t.md.new"):
        golden.check(path, "cash 99.00\n")
    assert path.read_text() == "cash 100.00\n"  # the reviewed answer is untouched
    assert (tmp_path / "t.md.new").read_text() == "cash 99.00\n"
    with pytest.raises(pytest.fail.Exception, match="missing golden file"):
        golden.check(tmp_path / "new-case" / "u.json", "{}")
    assert (tmp_path / "new-case" / "u.json.new").read_text() == "{}"


def test_regeneration_is_refused_in_ci(tmp_path, monkeypatch):
    monkeypatch.setenv(golden.ENV, "1")
    monkeypatch.setenv("CI", "true")
    path = tmp_path / "t.md"
    path.write_text("a\n")
    with pytest.raises(pytest.fail.Exception, match="refused when CI=true"):
        golden.check(path, "b\n")
    assert not (tmp_path / "t.md.new").exists()
