"""The self-contained HTML report rendered from an audit's results JSON."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from brittle.errors import BrittleError
from brittle.report.html import fmt_rate
from brittle.report.render import render_html, write_report
from brittle.report.sections import accuracy
from report_fixtures import example_result

SECTIONS = ["accuracy", "adversarial", "corruptions", "ood", "calibration", "explain",
            "diagnose"]
SUB_ANCHORS = ["accuracy-classes", "accuracy-pairs", "adversarial-curves", "adversarial-classes",
               "adversarial-masking", "adversarial-examples", "corruptions-table", "ood-table",
               "calibration-reliability", "calibration-shift", "explain-examples",
               "explain-sanity", "explain-adversarial", "diagnose-pairs", "diagnose-suspects"]


class Page(HTMLParser):
    """The ids, links, resource URLs, tags and visible text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in {"src", "href", "srcset", "action", "poster", "data"}:
                self.urls.append((tag, name, value or ""))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def visible(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.text))


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return example_result()


@pytest.fixture(scope="module")
def page_html(result: dict[str, Any]) -> str:
    return render_html(result)


def small(**sections: Any) -> dict[str, Any]:
    """The fixture with only the given sections (fast to render)."""
    base = example_result()
    base["sections"] = sections
    base["findings"] = []
    return base


def test_every_section_and_sub_anchor_is_present_once(page_html: str) -> None:
    ids = Page(page_html).ids
    for anchor in SECTIONS + SUB_ANCHORS + ["findings", "run"]:
        assert ids.count(anchor) == 1, anchor
    assert len(ids) == len(set(ids))
    order = [page_html.index(f'id="{s}"') for s in SECTIONS]
    assert order == sorted(order)
    assert page_html.index('id="findings"') < order[0]  # findings come first


def test_findings_link_to_evidence_that_exists(result: dict[str, Any], page_html: str) -> None:
    page = Page(page_html)
    assert 3 <= len(result["findings"]) <= 5
    for finding in result["findings"]:
        assert finding["anchor"] in page.ids
        assert f'href="#{finding["anchor"]}"' in page_html
        assert finding["title"] in page.visible()
    assert page_html.count('class="badge high"') >= 2
    for tag, attr, url in page.urls:
        if url.startswith("#"):
            assert url[1:] in page.ids, (tag, attr, url)


def test_page_is_self_contained(result: dict[str, Any], page_html: str) -> None:
    page = Page(page_html)
    for tag, attr, url in page.urls:
        assert url.startswith(("#", "data:image/png;base64,")), (tag, attr, url[:80])
    assert "http://" not in page_html and "https://" not in page_html
    assert "url(" not in page_html and "@import" not in page_html
    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    images = [u for t, a, u in page.urls if t == "img"]
    plots = [u for u in images if len(u) > 5000]
    assert len(plots) >= 9  # bars, 2 heatmaps, curves, attack bars, corruption map, OOD, 2 calib
    size = len(page_html.encode())
    print(f"fixture report: {size / 1e6:.2f} MB, {len(images)} images")
    assert size < 3_000_000


def test_every_embedded_example_image_appears(result: dict[str, Any], page_html: str) -> None:
    def pngs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k.endswith("_png")] + [
                p for v in node.values() for p in pngs(v)]
        return [p for v in node for p in pngs(v)] if isinstance(node, list) else []

    found = pngs(result["sections"])
    # accuracy, adversarial, corruptions; explain: examples and clean vs adversarial;
    # diagnose: mean images and maps of 3 pairs, 12 suspects and 8 ambiguous images
    assert len(found) == 8 * 6 + 8 * 3 + 16 + 8 + 4 * 6 + 3 * (2 + 2 * 2) + 12 + 8
    for b64 in found:
        assert f'src="data:image/png;base64,{b64}"' in page_html


def test_rates_are_shown_with_interval_and_n(result: dict[str, Any], page_html: str) -> None:
    text = Page(page_html).visible()
    sections = result["sections"]
    assert fmt_rate(sections["accuracy"]["accuracy"]) == "99.1% [98.8, 99.2] n=10000"
    rates = [sections["accuracy"]["accuracy"], sections["corruptions"]["clean_accuracy"]]
    rates += [row["miss"] for row in sections["accuracy"]["per_class"]]
    rates += [r["accuracy"] for r in sections["corruptions"]["results"]]
    rates += [r for c in sections["adversarial"]["curves"] for r in c["robust_accuracy"]]
    for row in sections["adversarial"]["per_class"]["untargeted"]:
        rates += [row["clean_accuracy"], row["robust_accuracy"], row["attack_success"]]
    for rate in rates:
        shown = fmt_rate(rate)
        assert re.fullmatch(r"\d+\.\d% \[\d+\.\d, \d+\.\d\] n=\d+", shown)
        assert shown in text, shown


def test_worst_classes_lead_the_per_class_tables(page_html: str) -> None:
    start, end = page_html.index('id="accuracy-classes"'), page_html.index('id="accuracy-pairs"')
    block = page_html[start:end]
    rows = re.findall(r'<tr class="worst"><td>([^<]*)</td>', block)
    assert rows == ["9", "2", "8"]  # the three largest miss rates of the fixture
    block = page_html[page_html.index('id="adversarial-classes"'):]
    assert re.findall(r'<tr class="worst"><td>([^<]*)</td>', block)[:3] == ["9", "8", "4"]


def test_strings_from_the_json_are_escaped() -> None:
    evil = "<script>alert('x')</script>"
    base = small(accuracy=example_result()["sections"]["accuracy"])
    base["model"]["class_names"] = [evil + " $a$", *base["model"]["class_names"][1:]]
    base["sections"]["accuracy"]["per_class"][0]["name"] = evil
    base["findings"] = [{"id": "f1", "severity": "<b>high</b>", "section": "accuracy",
                         "anchor": 'accuracy-classes" onmouseover="x', "title": evil,
                         "text": "<img src=x onerror=alert(1)>"}]
    page_html = render_html(base)
    assert "<script" not in page_html and "<img src=x" not in page_html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page_html
    assert 'onmouseover="x' not in page_html
    assert evil in Page(page_html).visible()  # shown as text, not run


def test_skipped_and_unknown_sections() -> None:
    page_html = render_html(small(ood={"skipped": "no OOD datasets <found> offline"},
                                  fairness={"method": "gradcam", "maps": [1, 2, 3]}))
    page = Page(page_html)
    assert {"ood", "fairness"} <= set(page.ids)
    assert "Skipped: no OOD datasets <found> offline" in page.visible()
    unknown = page_html[page_html.index('id="fairness"'):]
    assert "<details>" in unknown and "&quot;gradcam&quot;" in unknown
    assert page_html.index('id="ood"') < page_html.index('id="fairness"')


def test_sparse_results_render() -> None:
    page_html = render_html({"schema": "brittle.audit/2", "sections": {
        "accuracy": {"accuracy": {"k": 0, "n": 0, "value": None}},
        "adversarial": {}, "corruptions": {"results": []}, "calibration": {"before": {}}},
        "findings": [{"severity": "low", "anchor": "nowhere", "section": "accuracy",
                      "title": "t", "text": "x"}], "extra": {"ignored": True}})
    assert "No per-class results." in page_html
    assert 'href="#accuracy"' in page_html  # an unknown anchor falls back to its section
    assert 'href="#nowhere"' not in page_html


def test_json_round_trip_is_deterministic(tmp_path: Path, result: dict[str, Any],
                                          page_html: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(result, indent=2))
    out = write_report(path, tmp_path / "sub" / "report.html")
    assert out == tmp_path / "sub" / "report.html"
    assert out.read_text(encoding="utf-8") == page_html


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is not JSON"),
    ("[1, 2]", "is not a JSON object"),
    ('{"sections": {}}', "has no schema"),
    ('{"schema": "brittle.study/1", "sections": {}}', "schema 'brittle.study/1'"),
    ('{"schema": "brittle.audit/1", "sections": []}', "'sections' must be a JSON object"),
])
def test_bad_results_files_are_one_line_errors(tmp_path: Path, content: str,
                                               message: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(BrittleError, match=re.escape(message)) as info:
        write_report(path, tmp_path / "report.html")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "report.html").exists()


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(BrittleError, match="cannot read results file") as info:
        write_report(tmp_path / "absent.json", tmp_path / "report.html")
    assert "\n" not in str(info.value)


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("section renderer failed")

    monkeypatch.setattr(accuracy, "render", broken)
    with pytest.raises(RuntimeError, match="section renderer failed"):
        write_report(small(accuracy={"accuracy": None}), tmp_path / "report.html")
    assert list(tmp_path.iterdir()) == []


def test_fmt_rate() -> None:
    assert fmt_rate({"k": 1, "n": 3, "value": 1 / 3, "low": 0.0615, "high": 0.7923}) == (
        "33.3% [6.2, 79.2] n=3")
    assert fmt_rate(None) == "n/a"
    assert fmt_rate({"k": 0, "n": 0, "value": None, "low": None, "high": None}) == "n/a"
