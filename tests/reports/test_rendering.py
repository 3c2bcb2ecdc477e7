"""The HTML reports as a person sees them: rendered by a real browser.

Chromium (through Playwright) opens the published files; the page must not
scroll sideways on a laptop-width window or a phone, the plot must load,
and the figures must be visible.  ``TRADEOPS_UPDATE_SCREENSHOTS=1`` also
refreshes the screenshots the README shows (tests/reports/screenshots/).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tradeops import reports

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"]) if executable else p.chromium.launch()
        except Exception as err:  # no browser on this machine
            if os.environ.get("CI") == "true":
                pytest.fail(f"no Chromium for the rendering tests: {err}")
            pytest.skip(f"no Chromium for the rendering tests: {err}")
        yield b
        b.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["daily", "weekly"])
def test_report_reads_well_in_a_browser(browser, inputs, tmp_path, kind):
    publish = reports.publish_daily if kind == "daily" else reports.publish_weekly
    publish(inputs, tmp_path)
    for width in (1200, 820):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto((tmp_path / f"{kind}.html").as_uri())
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{kind}.html scrolls sideways at {width}px ({scroll} > {inner})"
        assert page.evaluate("document.querySelector('img.plot').naturalWidth") == 900  # the PNG loaded
        text = page.inner_text("main")
        assert "10,250.25" in text and "Needs attention" in text
        if width == 1200 and os.environ.get("TRADEOPS_UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"report-{kind}.png"), full_page=True)
        page.close()
