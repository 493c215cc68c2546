"""The HTML report in headless Chromium: every section renders, no console errors, every image
decodes, nothing overflows the page width.

Chromium is driven from the command line (``--dump-dom``, ``--screenshot``) with
``--enable-logging=stderr``, so console messages and uncaught errors show up as ``CONSOLE`` lines
on stderr. A copy of the report gets a small probe script (the report itself has none) that
writes what it found into ``<body data-*>`` attributes, which ``--dump-dom`` returns. The last test
proves the probe and the log check fail on a page that is broken on purpose.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from brittle.report.render import write_report
from report_fixtures import example_result

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (Debian: apt-get install -y chromium chromium-driver)")

SECTIONS = ["findings", "accuracy", "adversarial", "corruptions", "ood", "calibration",
            "explain", "diagnose", "run"]
SUB_ANCHORS = ["accuracy-classes", "accuracy-pairs", "adversarial-curves", "adversarial-classes",
               "adversarial-masking", "adversarial-examples", "corruptions-table", "ood-table",
               "calibration-reliability", "calibration-shift", "explain-examples",
               "explain-sanity", "explain-adversarial", "diagnose-pairs", "diagnose-suspects"]
WIDTH = 1280
PROBE = """<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length;
  const overflow = document.documentElement.scrollWidth - window.innerWidth;
  document.body.dataset.images = document.images.length;
  document.body.dataset.broken = broken;
  document.body.dataset.overflow = overflow;
  if (broken) console.error("probe: " + broken + " images failed to decode");
});
</script>"""


def chromium(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0", f"--window-size={WIDTH},4000"]
    done = subprocess.run([CHROMIUM, *flags, *extra, page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def probe(tmp_path: Path, page: Path) -> tuple[dict[str, int], list[str], str]:
    """Body attributes set by the probe, console lines, and the rendered DOM of ``page``."""
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                      encoding="utf-8")
    done = chromium(tmp_path, probed, "--dump-dom")
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body, done.stdout[:500]
    found = {k: int(v) for k, v in re.findall(r'data-(\w+)="(-?\d+)"', body.group(1))}
    return found, console_lines(done.stderr), done.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(example_result(), tmp_path_factory.mktemp("report") / "report.html")


def test_report_renders_cleanly(report: Path, tmp_path: Path) -> None:
    plain = chromium(tmp_path, report, "--dump-dom")
    assert console_lines(plain.stderr) == []
    ids = set(re.findall(r'\sid="([^"]+)"', plain.stdout))
    assert set(SECTIONS + SUB_ANCHORS) <= ids
    found, lines, _ = probe(tmp_path, report)
    assert lines == []
    assert found["images"] == report.read_text(encoding="utf-8").count("<img ")
    assert found["images"] > 90
    assert found["broken"] == 0
    assert found["overflow"] <= 0, "the page is wider than the window"


def test_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    shot = tmp_path / "shot.png"
    chromium(tmp_path, report, f"--screenshot={shot}")
    image = Image.open(shot).convert("L")
    assert image.size == (WIDTH, 4000)
    assert ImageStat.Stat(image).stddev[0] > 20  # text, tables and figures, not an empty page


def test_probe_catches_a_broken_page(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA">'
                    '<div style="width: 3000px">wide</div>'
                    "<script>undefinedFunction();</script></body></html>")
    found, lines, _ = probe(tmp_path, page)
    assert found["broken"] == 1 and found["overflow"] > 0
    assert any("Uncaught ReferenceError" in line for line in lines)
    assert any("images failed to decode" in line for line in lines)
