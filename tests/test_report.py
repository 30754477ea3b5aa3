"""The report: complete or absent, readable in a browser, numbers that match."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from circular import MODEL_PATH
from pyloop.cli import main
from pyloop.case import for_model
from pyloop.report import MARKER, ReportSettings, build_report, equation_texts

CASE = for_model(MODEL_PATH)
QUICK = CASE.report_settings(ReportSettings(scenarios=("baseline", "music_stops"), quick=True))


@pytest.fixture(scope="module")
def report(tmp_path_factory, circular_model):
    out = tmp_path_factory.mktemp("report") / "report"
    path = build_report(out, circular_model, QUICK, extra_sections=CASE.sections())
    return path


def test_report_is_complete(report):
    text = report.read_text(encoding="utf-8")
    for title in ("Summary: the three questions", "Scenarios", "Policies", "Feedback loops: dominance and knockouts",
                  "Who paid: the money ledger", "Uncertainty and sensitivity", "Stock-and-flow diagram",
                  "Calibration", "Validity tests", "Variable reference", "Run manifest"):
        assert f">{title}</h2>" in text, title
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', text)
    pngs = list((report.parent / "figures").glob("*.png"))
    assert len(images) == len(pngs) >= 16
    assert (report.parent / MARKER).is_file()
    assert "sha256" in (report.parent / MARKER).read_text()


def test_calibration_and_validity_tables_pass(report):
    text = report.read_text(encoding="utf-8")
    calibration = text.split('id="calibration"')[1].split("</section>")[0]
    assert ">NO<" not in calibration and calibration.count(">yes<") >= 15
    validity = text.split('id="validity"')[1].split("</section>")[0]
    assert "FAIL" not in validity and validity.count(">pass<") >= 3


def test_equation_texts_read_the_model_file():
    texts = equation_texts(MODEL_PATH)
    assert texts["Compute Payments"] == "Compute Billing * Lab Payment Ability"
    assert texts["AI Lab Cash"].startswith("INTEG ( AI Revenue + Equity Raised")
    assert texts["Contract Length"] == "5"


def test_refuses_a_folder_that_is_not_a_report(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code = main(["report", "--quick", "--scenario", "baseline", "--out", str(out), "--model", str(MODEL_PATH)])
    assert code == 2
    assert "is not an earlier pyloop report" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_interrupted_report_leaves_nothing(tmp_path):
    out = tmp_path / "report"
    env = dict(os.environ)
    command = [sys.executable, "-m", "pyloop", "report", "--quick", "--out", str(out), "--model", str(MODEL_PATH)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # wait until the report has started its runs, then kill it hard
    deadline = time.monotonic() + 120
    for line in process.stderr:
        if "running policies" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    staged = list(out.iterdir())
    assert len(staged) == 1 and staged[0].name.startswith(".pyloop-staging-")  # not a report
    # the next report clears it and publishes a complete one
    build_report(out, MODEL_PATH, ReportSettings(scenarios=("baseline",), quick=True))
    assert (out / "report.html").is_file()
    assert list(out.glob(".pyloop-staging-*")) == []


def test_an_earlier_report_is_replaced(tmp_path):
    out = tmp_path / "report"
    build_report(out, MODEL_PATH, ReportSettings(scenarios=("baseline",), quick=True))
    first = (out / MARKER).read_text()
    build_report(out, MODEL_PATH, ReportSettings(scenarios=("baseline", "ai_boom"), quick=True))
    assert (out / MARKER).read_text() != first
    assert "ai_boom" in (out / "report.html").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_report_opens_in_headless_chromium(report, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(report.resolve().as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0]);"
        )
        assert len(images) >= 16
        assert [alt for alt, loaded in images if not loaded] == []
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
        assert driver.title.endswith("model report")
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_summary_numbers_match_the_analyses(report, circular_model):
    """The summary's figures are those the analysis functions give."""
    import json

    from pyloop.analysis.ledger import audit
    from pyloop.analysis.loops import analyze_loops
    from pyloop.case.ai_circular_finance import BOOM

    numbers = json.loads((report.parent / "summary.json").read_text())
    html_text = report.read_text(encoding="utf-8")
    summary = html_text.split('id="summary"')[1].split("</section>")[0]

    paid = audit(circular_model, "baseline").who_paid([2030.0]).iloc[0]
    assert numbers["who_paid_2030"]["Equity Investors"] == pytest.approx(paid["Equity Investors"], rel=1e-9)
    assert numbers["who_paid_2030"]["End Users"] == pytest.approx(paid["End Users"], rel=1e-9)
    assert f"{100 * paid['Equity Investors']:.0f} % came from equity investors" in summary
    assert f"{paid['Compute Payments (B$)']:,.0f} B$" in summary

    (share,) = analyze_loops(circular_model, "baseline").reinforcing_share(*BOOM).values()
    assert numbers["boom_reinforcing_share"] == pytest.approx(share, abs=1e-12)
    assert f"reinforcing loops dominate {100 * share:.0f} % of the steps" in summary

    stops = pyloop_run_first_cancellation(circular_model, "music_stops")
    assert numbers["first_cancellation"]["music_stops"] == pytest.approx(stops)
    assert f"in music_stops at {stops:.2f}" in summary
    assert numbers["first_cancellation"]["baseline"] is None


def pyloop_run_first_cancellation(model, scenario):
    import pyloop

    frame = pyloop.run(model, scenario).frame
    return float(frame.index[frame["Contract Cancellations"].to_numpy() > 0][0])
