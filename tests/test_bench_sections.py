"""`python -m tradeops.bench <area>` rewrites only that area's section of BENCHMARKS.md."""

from tradeops.bench.__main__ import merge_sections

EXISTING = "# Benchmarks\n\nMade by make bench.\n\n## Ledger\n\nold ledger table\n\n## Daily run: time to ticket\n\nold figures\n"


def test_a_section_run_alone_replaces_its_own_section_and_keeps_the_others():
    out = merge_sections(EXISTING, ["## Daily run: time to ticket\n\nnew figures\n"])
    assert out == "# Benchmarks\n\nMade by make bench.\n\n## Ledger\n\nold ledger table\n\n## Daily run: time to ticket\n\nnew figures\n"


def test_a_section_not_there_yet_is_added_at_the_end():
    out = merge_sections(EXISTING, ["## Array engine\n\nratios\n"])
    assert out.startswith(EXISTING.rstrip() + "\n")
    assert out.endswith("\n\n## Array engine\n\nratios\n")
