"""``brittle audit`` and ``brittle report`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import assert_one_line_error, brittle, trained  # noqa: F401  (fixture)


def test_audit_writes_results_and_report_and_report_re_renders(trained: Path,  # noqa: F811
                                                               tmp_path: Path) -> None:
    out = tmp_path / "audit"
    proc = brittle("audit", str(trained / "model.safetensors"), "--data", "digits",
                   "--sections", "accuracy,calibration", "--n", "120", "--seed", "1",
                   "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert f"report: {out / 'report.html'}" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == "brittle.audit/1" and results["data"]["n"] == 120
    assert list(results["sections"]) == ["accuracy", "calibration"]
    assert results["run"]["seed"] == 1
    again = tmp_path / "again.html"
    proc = brittle("report", str(out / "results.json"), "--out", str(again))
    assert proc.returncode == 0, proc.stderr
    assert again.read_text() == (out / "report.html").read_text()


def test_bad_audit_and_report_input_is_one_line_exit_2(trained: Path,  # noqa: F811
                                                       tmp_path: Path) -> None:
    ckpt = str(trained / "model.safetensors")
    out = tmp_path / "out"
    assert_one_line_error(brittle("audit", ckpt, "--data", "digits", "--sections", "speed",
                                  "--out", str(out)), "unknown audit section")
    assert_one_line_error(brittle("audit", ckpt, "--data", "digits", "--n", "99999",
                                  "--out", str(out)), "n=99999")
    assert_one_line_error(brittle("audit", ckpt, "--data", "mnist", "--data-dir",
                                  str(tmp_path / "nothing"), "--out", str(out)))
    assert not (out / "results.json").exists()
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert_one_line_error(brittle("report", str(junk)), "JSON")
    junk.write_text(json.dumps({"schema": "other/1"}))
    assert_one_line_error(brittle("report", str(junk)), "schema")
