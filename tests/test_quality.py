"""`pyloop check`, the XMILE twin and the diagram pictures."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import pyloop
from circular import MODEL_PATH
from conftest import MODELS
from pyloop.validation.quality import check_model
from pyloop.cli import main
from pyloop.engine.simlin import file_digest, run as simlin_run, simlin_ident, twin_source
from pyloop.engine.vensim_sketch import read_sketch

QUALITY = MODELS / "quality"
TWIN = MODEL_PATH.with_suffix(".xmile")
SCENARIOS = ["baseline", "music_stops", "ai_boom", "ai_winter", "rate_shock", "build_delays", "pledge_lapses"]


def codes(path):
    return {(f.code, f.variable) for f in check_model(pyloop.load_model(path))}


def test_our_model_passes_every_check(circular_model):
    findings = check_model(circular_model)
    assert [f for f in findings if f.severity == "error"] == []
    assert findings == []  # no warning either


def test_clean_small_model_passes():
    assert codes(QUALITY / "tank.mdl") == set()


@pytest.mark.parametrize(
    "file,code,variable,message",
    [
        ("tank_unit_mismatch.mdl", "U002", "Outflow", r"computes to units 'dmnl'.*'liter/minute'"),
        ("tank_undocumented.mdl", "D001", "Capacity", r"no comment"),
        ("tank_buried_number.mdl", "M001", "Inflow", r"number\(s\) 0\.9 buried"),
        ("tank_off_diagram.mdl", "G001", "Drain Time", r"on no view of the diagram"),
        ("tank_missing_switch.mdl", "L002", None, r"loop B2 has no switch constant"),
        ("tank_undeclared_flow.mdl", "F001", None, r"money flow 'Outflow' out of cash stock 'Water' is not declared"),
    ],
)
def test_each_finding_fires_on_a_broken_model(file, code, variable, message):
    findings = check_model(pyloop.load_model(QUALITY / file))
    hits = [f for f in findings if f.code == code and f.variable == variable]
    assert hits, findings
    assert re.search(message, hits[0].message)


def test_constant_without_source_is_reported(tmp_path):
    text = (QUALITY / "tank.mdl").read_text().replace("Assumption: size of the tank.", "Size of the tank.")
    path = tmp_path / "tank.mdl"
    path.write_text(text)
    assert ("D002", "Capacity") in codes(path)


def test_catalogued_loop_that_does_not_exist_is_reported(tmp_path):
    import shutil

    shutil.copyfile(QUALITY / "tank.mdl", tmp_path / "tank.mdl")
    catalogue = (QUALITY / "tank.loops.toml").read_text().replace('["Water", "Outflow"]', '["Outflow", "Water Seen"]')
    (tmp_path / "tank.loops.toml").write_text(catalogue)
    findings = check_model(pyloop.load_model(tmp_path / "tank.mdl"))
    assert [f.message for f in findings if f.code == "L001"] == [
        "loop B2 does not exist: no link 'Outflow' -> 'Water Seen'"
    ]


def test_stock_drawn_without_a_flow_is_reported(tmp_path):
    text = (QUALITY / "tank.mdl").read_text().replace("1,9,10,1,100,0,0,22,0,0,0,-1--1--1,,1|(345,200)|\n", "")
    path = tmp_path / "tank.mdl"
    path.write_text(text)
    assert ("G002", "Water") in codes(path)


def test_check_command_exit_codes(capsys):
    assert main(["check", "--model", str(QUALITY / "tank.mdl")]) == 0
    assert main(["check", "--model", str(QUALITY / "tank_off_diagram.mdl")]) == 1
    out = capsys.readouterr().out
    assert "G001 Drain Time" in out and "1 error" in out
    assert main(["check", "--model", str(QUALITY / "tank_buried_number.mdl")]) == 0
    assert main(["check", "--strict", "--model", str(QUALITY / "tank_buried_number.mdl")]) == 1


def test_xmile_twin_is_current():
    recorded = twin_source(TWIN.read_text(encoding="utf-8"))
    assert recorded is not None, "the XMILE twin records no source; run: pyloop export --xmile"
    name, digest = recorded
    assert name == MODEL_PATH.name
    assert digest == file_digest(MODEL_PATH), "the XMILE twin is stale; run: pyloop export --xmile"


def test_export_writes_a_twin_pysd_reads(tmp_path, capsys):
    out = tmp_path / "tank.xmile"
    assert main(["export", "--xmile", "--model", str(QUALITY / "tank.mdl"), "--out", str(out)]) == 0
    assert twin_source(out.read_text())[1] == file_digest(QUALITY / "tank.mdl")
    ours = pyloop.run(QUALITY / "tank.mdl").frame
    twin = pyloop.run(out).frame
    np.testing.assert_allclose(twin["Water"].to_numpy(), ours["Water"].to_numpy(), rtol=1e-12)


def test_export_keeps_named_and_inline_lookups(tmp_path):
    out = tmp_path / "lookups.xmile"
    assert main(["export", "--xmile", "--model", str(MODELS / "lookups.mdl"), "--out", str(out)]) == 0
    ours = pyloop.run(MODELS / "lookups.mdl").frame
    twin = pyloop.run(out).frame
    for column in ("Stock", "Inflow", "Inline Effect"):
        np.testing.assert_allclose(twin[column].to_numpy(), ours[column].to_numpy(), rtol=1e-12)


@pytest.fixture(scope="module")
def twin_model():
    return pyloop.load_model(TWIN)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_mdl_twin_and_simlin_agree(circular_model, circular_run, twin_model, scenario):
    ours = circular_run(scenario)
    twin = pyloop.run(twin_model, scenario, scenarios=pyloop.load_scenarios(circular_model)).frame
    names = {simlin_ident(v.name): v.name for v in circular_model.variables}
    other = simlin_run(MODEL_PATH, ours.constants, names)
    compared = 0
    for column in ours.frame.columns:
        a = ours.frame[column].to_numpy(dtype=float)
        scale = max(np.max(np.abs(a)), 1e-12)
        for frame in (twin, other):
            b = frame[column].to_numpy(dtype=float)
            assert np.max(np.abs(a - b)) / scale < 1e-6, column
        compared += 1
    assert compared == len(ours.frame.columns)


def test_every_view_renders_with_its_stocks(tmp_path, circular_model):
    out = tmp_path / "diagrams"
    assert main(["diagram", "--model", str(MODEL_PATH), "--out", str(out)]) == 0
    titles = [view.title for view in read_sketch(MODEL_PATH)]
    views = sorted(p.stem for p in out.glob("*.svg"))
    assert views == sorted("view_" + "_".join(title.lower().split()) for title in titles)
    assert "Overview" in titles
    for sector in ("AI Lab", "Cloud Provider", "Chip Maker", "Capital Markets"):
        # one view per sector, or several named "<sector> - <part>"
        assert any(title == sector or title.startswith(f"{sector} - ") for title in titles), sector
    text = ""
    for svg in out.glob("*.svg"):
        root = ET.parse(svg).getroot()
        text += " ".join(" ".join(t.itertext()) for t in root.iter() if t.tag.endswith("text"))
    words = " ".join(text.split())
    for stock in circular_model.stocks:
        assert all(part in words for part in stock.split()), stock
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
