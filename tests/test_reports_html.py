"""report.html opened in a real headless browser (Debian's Chromium): it loads offline and shows its plots.

Skipped only where Chromium is missing and the run is not CI; in CI (`CI` set) a
missing Chromium fails the test, since .ci/run installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_reports_fixtures import SCORES, write_engine_run
from test_reports_run import write_failures

from reports import build_report

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")
# Sets data-images on <body> once every image has loaded: naturalWidth x naturalHeight per <img>.
PROBE = ("<script>window.addEventListener('load', () => document.body.setAttribute('data-images', "
         "[...document.images].map(i => i.naturalWidth + 'x' + i.naturalHeight).join(' ')));</script>")


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing in CI: .ci/run installs it with apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI runs this test")
    return path


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = write_engine_run(tmp_path_factory.mktemp("html") / "run",
                           {"mr": SCORES, "wide": {k: 10 * v - 2 for k, v in SCORES.items()}},
                           spec_methods=["mr", "wide", "broken"])
    write_failures(run)
    return build_report(run, resamples=50)


def test_report_is_self_contained(report):
    html = report.html_path.read_text()
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(href|src)="(https?:)?//', html) and "<script" not in html
    assert "<link" not in html and "@import" not in html


def test_report_renders_with_its_plots_in_chromium(report, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(report.html_path.read_text().replace("</body>", PROBE + "</body>"))
    dom = run_chromium(tmp_path, "--dump-dom", probed.as_uri()).stdout
    sizes = re.search(r'data-images="([^"]*)"', dom)
    assert sizes, "the page never finished loading"
    widths = [tuple(map(int, s.split("x"))) for s in sizes.group(1).split()]
    assert len(widths) == 3 and all(w > 300 and h > 200 for w, h in widths), widths
    for heading in ("Headline", "Robustness and uniqueness", "AUC per attack", "Matching-rate margin",
                    "Method cost", "Failed jobs", "Definitions"):
        assert heading in dom
    assert "CUDA out of memory" in dom and "broken: no finite score at all" in dom


def test_screenshot_shows_the_plots(report, tmp_path):
    from PIL import Image

    shot = tmp_path / "page.png"
    run_chromium(tmp_path, "--window-size=1280,4200", f"--screenshot={shot}", report.html_path.as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    assert len(np.unique(pixels, axis=0)) > 200  # text, tables and anti-aliased plot lines, not a blank page
    # matplotlib's first two colours (the methods' curves and bars) must be on screen.
    for color in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(pixels - color).sum(axis=1) < 30).sum() > 500, color
