"""The report: complete or absent, readable in a browser, numbers that match."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from circular import MODEL_PATH
from pyloop.cli import main
from pyloop.case import for_model
from pyloop.report import MARKER, ReportSettings, build_report, equation_texts
from pyloop.text_format import is_year_label

CASE = for_model(MODEL_PATH)
#: A year cell written 2.03e+03 or 2,030.
SCIENTIFIC_OR_SEPARATED = re.compile(r"^-?\d(\.\d+)?e[+-]?\d+$|^[12],\d{3}(\.\d+)?$")
#: A year of the model's horizon written in scientific or thousands-separated form in a label.
YEAR_IN_TEXT = re.compile(r"\b2\.0\d*e\+03\b|\b2,0[2-4]\d(\.\d+)?\b(?!\s*B\$)")


def screenshot_folder(tmp_path: Path) -> Path:
    """Where the browser test saves its screenshots: the folder named by
    PYLOOP_SCREENSHOTS when set (to keep them), else the test's temporary
    folder."""
    path = Path(os.environ.get("PYLOOP_SCREENSHOTS") or tmp_path) / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
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
        if "running scenarios and policies" in line or time.monotonic() > deadline:
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
        # years read as years: no year column cell, header or caption in
        # scientific or thousands-separated form
        tables = driver.execute_script(
            "return Array.from(document.querySelectorAll('table')).map(t => Array.from(t.rows).map("
            "r => Array.from(r.cells).map(c => c.innerText.trim())));"
        )
        assert tables
        bad = []
        for rows in tables:
            header = rows[0] if rows else []
            for row in rows[1:]:
                for title, cell in zip(header, row):
                    if is_year_label(title) and SCIENTIFIC_OR_SEPARATED.match(cell):
                        bad.append((title, cell))
        labels = driver.execute_script(
            "return Array.from(document.querySelectorAll('th, figcaption, img')).map(e => e.innerText || e.alt || '');"
        )
        bad += [label for label in labels if YEAR_IN_TEXT.search(label)]
        assert bad == []
        # screenshots a reader can check: the summary, a loop figure, a view
        from selenium.webdriver.common.by import By

        for name, selector in (("summary", "#summary"), ("loop figure", "#loops figure"),
                               ("view", "#diagram figure")):
            element = driver.find_element(By.CSS_SELECTOR, selector)
            driver.execute_script("arguments[0].scrollIntoView();", element)
            path = screenshot_folder(tmp_path) / f"{name.replace(' ', '_')}.png"
            assert element.screenshot(str(path)), name
            assert path.stat().st_size > 5_000, f"{name}: screenshot nearly blank"
    finally:
        driver.quit()


def test_summary_numbers_match_the_analyses(report, circular_model):
    """The summary's figures are those the analysis functions give."""
    import json

    from pyloop.analysis.ledger import audit
    from pyloop.analysis.loops import load_catalogue, variable_dominance
    from pyloop.case.ai_circular_finance import KEY_VARIABLES, case_windows

    numbers = json.loads((report.parent / "summary.json").read_text())
    html_text = report.read_text(encoding="utf-8")
    summary = html_text.split('id="summary"')[1].split("</section>")[0]

    paid = audit(circular_model, "baseline").who_paid([2030.0]).iloc[0]
    assert numbers["who_paid_2030"]["Equity Investors"] == pytest.approx(paid["Equity Investors"], rel=1e-9)
    assert numbers["who_paid_2030"]["End Users"] == pytest.approx(paid["End Users"], rel=1e-9)
    assert f"{100 * paid['Equity Investors']:.0f} % came from equity investors" in summary
    assert f"{paid['Compute Payments (B$)']:,.0f} B$" in summary

    runs = {name: pyloop_run(circular_model, name) for name in ("baseline", "music_stops")}
    windows = case_windows(circular_model, runs)
    for scenario, result in runs.items():
        entry = numbers["loops"][scenario]
        window = windows[scenario]
        assert entry["window"] == {"label": window.label, "start": window.start, "end": window.end}
        assert list(entry["variables"]) == list(KEY_VARIABLES)
        for variable in KEY_VARIABLES:
            d = variable_dominance(circular_model, result, variable, (window.start, window.end))
            found = entry["variables"][variable]
            # the report runs its scenarios together in one vectorised run: equal to rounding
            assert found["reinforcing_share"] == pytest.approx(d.reinforcing_share, abs=1e-9)
            assert found["behaviour_polarity"] == pytest.approx(d.behaviour_polarity, abs=1e-9)
            assert found["agreement"] == pytest.approx(d.agreement, abs=1e-9)
            kind = "reinforcing" if d.reinforcing_share >= 0.5 else "balancing"
            held = d.reinforcing_share if kind == "reinforcing" else 1 - d.reinforcing_share
            stated = re.search(
                re.escape(variable) + r" (rises|falls), accelerating in (\d+) % of the steps; (\w+) loops"
                r"( running in reverse)? hold (\d+) % of the loop score on it", summary.split(
                    "When the music stops" if scenario == "music_stops" else "In the escalation")[1],
            )
            assert stated, (scenario, variable)
            assert stated.group(2) == f"{100 * d.behaviour_polarity:.0f}"
            assert (stated.group(3), stated.group(5)) == (kind, f"{100 * held:.0f}")
    best = numbers["strongest_knockout"]
    assert f"switching off {best['loop']} {best['name']} changes the most" in summary
    assert f"by {100 * abs(best['change']):.0f} %." in summary

    loops = html_text.split('id="loops"')[1].split("</section>")[0]
    assert not re.search(r"\bL\d+\b", re.sub(r"<img [^>]*>", "", loops))
    for scenario in runs:
        table = loops.split(f"Knockouts, {scenario}")[1].split("</table>")[0]
        switched = [c for c in load_catalogue(circular_model) if c.switch]
        assert table.count("<tr") == 1 + len(switched) * len(KEY_VARIABLES)  # a row per named loop and key variable

    stops = pyloop_run_first_cancellation(circular_model, "music_stops")
    assert numbers["first_cancellation"]["music_stops"] == pytest.approx(stops)
    assert f"in music_stops at {stops:.2f}" in summary
    assert numbers["first_cancellation"]["baseline"] is None


def pyloop_run(model, scenario):
    import pyloop

    return pyloop.run(model, scenario)


def pyloop_run_first_cancellation(model, scenario):
    import pyloop

    frame = pyloop.run(model, scenario).frame
    return float(frame.index[frame["Contract Cancellations"].to_numpy() > 0][0])


# ------------------------------------------- the loop section on a small model
TANK_SCENARIOS = """
[meta]
key_variables = ["Outflow", "Water"]

[scenarios.baseline]
description = "The tank as drawn."

[scenarios.fast]
description = "A fast drain."
[scenarios.fast.constants]
"Drain Time" = 2
"""


@pytest.fixture
def tank(tmp_path):
    """tank.mdl with its loop catalogue and two scenarios, outside the source tree."""
    import pyloop
    from conftest import MODELS

    for name in ("tank.mdl", "tank.loops.toml"):
        shutil.copyfile(MODELS / "quality" / name, tmp_path / name)
    (tmp_path / "tank.scenarios.toml").write_text(TANK_SCENARIOS, encoding="utf-8")
    return pyloop.load_model(tmp_path / "tank.mdl")


def loop_section(model, settings, folder):
    """The loop section alone: its HTML (figures left out) and the runs it filled."""
    from pyloop.report.document import Document
    from pyloop.report.loop_section import section_loops
    from pyloop.report.sections import collect_runs

    runs = collect_runs(model, settings, lambda _: None)
    doc = Document(folder)
    section_loops(doc, model, runs, settings)
    ((anchor, _, body),) = doc.sections
    assert anchor == "loops"
    return re.sub(r"<img [^>]*>", "", body), runs


def test_loop_section_states_what_variable_dominance_finds(tank, tmp_path):
    import pyloop
    from pyloop.analysis.loops import knockout_table, variable_dominance
    from pyloop.text_format import format_share

    settings = ReportSettings(scenarios=("baseline", "fast"), quick=True)
    text, runs = loop_section(tank, settings, tmp_path / "doc")
    # the generic focus: the scenario 'baseline', the model's key variables, the whole run
    assert list(runs["variable_dominance"]) == ["baseline"]
    assert list(runs["variable_dominance"]["baseline"]) == ["Outflow", "Water"]
    window = runs["loop_windows"]["baseline"]
    assert (window.label, window.start, window.end) == ("whole run", 0.0, 60.0)
    base = pyloop.run(tank, "baseline")
    for variable in ("Outflow", "Water"):
        expected = variable_dominance(tank, base, variable, (0.0, 60.0))
        found = runs["variable_dominance"]["baseline"][variable]
        assert found.reinforcing_share == pytest.approx(expected.reinforcing_share, abs=1e-12)
        assert found.behaviour_polarity == pytest.approx(expected.behaviour_polarity, abs=1e-12)
        # both loops are balancing, so balancing loops lead and hold everything
        assert expected.reinforcing_share < 0.5
        held = format_share(1 - expected.reinforcing_share, 0)
        assert f"{variable}: it accelerates away from where it was in " \
               f"{format_share(expected.behaviour_polarity, 0)} of the steps" in text
        assert f"balancing loops lead, holding {held} of its loop score" in text
        assert f"matches its behaviour in {format_share(expected.agreement, 0)}" in text
    assert "led by B2 Draining" in text or "led by B1 Filling" in text
    assert not re.search(r"\bL\d+\b", text)  # loops are named, or described by their stocks

    table = runs["knockouts"]["baseline"]
    assert sorted(zip(table["loop"], table["variable"])) == sorted(
        (lid, v) for lid in ("B1", "B2") for v in ("Outflow", "Water")
    )
    reference = knockout_table(tank, ["Outflow", "Water"], ["baseline"])
    for row in table.to_dict("records"):
        ref = reference.loc[("baseline", row["loop"], row["variable"])]
        for measure in ("peak", "trough", "final"):
            assert 100 * row[f"{measure} change"] == pytest.approx(ref[f"{measure} change %"], nan_ok=True)
    shown = text.split("Knockouts, baseline")[1].split("</table>")[0]
    assert shown.count("<tr") == 1 + len(table)  # the header and one row per loop and variable
    first = table.iloc[0]
    assert format_share(first["peak change"]) in shown
    assert re.search(r"<td>\d+(\.\d+)?</td>", shown)  # the base's peak and trough times, as years
    assert "<details><summary>Dominance across the whole model, baseline" in text


def test_loop_section_follows_the_focus(tank, tmp_path):
    from pyloop.report import Focus
    from pyloop.report.settings import LoopWindow

    def windows(model, results):
        return {"fast": LoopWindow("draining", 1.0, 5.0)}

    focus = Focus(scenarios=("fast",), loop_variables=("water", "Nowhere"), loop_windows=windows)
    settings = ReportSettings(scenarios=("fast",), quick=True, focus=focus)
    text, runs = loop_section(tank, settings, tmp_path / "doc")
    assert list(runs["variable_dominance"]["fast"]) == ["Water"]  # unknown names are left out
    assert runs["variable_dominance"]["fast"]["Water"].window == (1.0, 5.0)
    assert "<h3>fast: draining, 1 to 5</h3>" in text
    assert len(runs["knockouts"]["fast"]) == 2


def test_loop_section_without_a_catalogue_says_why(tmp_path):
    import pyloop
    from conftest import MODELS

    shutil.copyfile(MODELS / "quality" / "tank.mdl", tmp_path / "tank.mdl")
    text, runs = loop_section(pyloop.load_model(tmp_path / "tank.mdl"), ReportSettings(quick=True), tmp_path / "doc")
    assert "Not part of this report: the model has no loop catalogue" in text
    assert "variable_dominance" not in runs


def test_a_long_unnamed_loop_group_is_shortened_for_sentences():
    from types import SimpleNamespace

    from pyloop.report.loop_section import short_label

    long = "2 loops through Alpha, Beta, Gamma, Delta, Epsilon"
    groups = (
        SimpleNamespace(label=long, names=()),
        SimpleNamespace(label="R1 Growth", names=("Growth",)),
        SimpleNamespace(label="loop through Alpha, Beta", names=()),
    )
    dominance = SimpleNamespace(groups=groups)
    assert short_label(dominance, long) == "2 loops through Alpha, Beta, Gamma and 2 more stocks"
    assert short_label(dominance, "R1 Growth") == "R1 Growth"
    assert short_label(dominance, "loop through Alpha, Beta") == "loop through Alpha, Beta"
