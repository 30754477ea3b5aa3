"""Behaviour modes: Jacobian eigenvalues along a run and the loops the
dominant mode is most sensitive to; knockout tables."""

from __future__ import annotations

import numpy as np
import pytest

import pyloop
from pyloop.errors import PyloopError
from pyloop.analysis.loops import jacobians, knockout_table, run_modes
from pyloop.analysis.loops.modes import link_elasticities, link_gains
from pyloop.analysis.loops.scores import run_evaluator
from pyloop.analysis.structure import causal_structure

from conftest import MODELS


def modes_of(name: str, **params):
    model = pyloop.load_model(MODELS / f"{name}.mdl")
    result = pyloop.run(model, params=params or None)
    return model, result, run_modes(model, result)


def test_first_order_decay_is_minus_one_over_tau():
    model, _, modes = modes_of("cooling")
    tau = model.defaults["Characteristic Time"]
    np.testing.assert_allclose(modes.eigenvalues[:, 0], -1 / tau, atol=1e-6)
    (phase,) = modes.phases
    assert phase.kind == "decaying"
    (label, elasticity), = phase.loops
    assert label.endswith("(through Teacup Temperature)")
    assert elasticity == pytest.approx(1.0, abs=1e-6)  # lambda is proportional to the loop gain


def test_oscillator_has_plus_minus_i_omega():
    model, _, modes = modes_of("oscillator")
    omega = model.defaults["Angular Frequency"]
    np.testing.assert_allclose(modes.eigenvalues[:, 0], 1j * omega, atol=1e-6)
    np.testing.assert_allclose(modes.eigenvalues[:, 1], -1j * omega, atol=1e-6)
    (phase,) = modes.phases
    assert phase.kind == "oscillating, sustained"
    # omega = sqrt(loop gain): the eigenvalue's elasticity to its one loop is 1/2
    assert phase.loops[0][1] == pytest.approx(0.5, abs=1e-6)


def test_logistic_mode_changes_sign_at_half_capacity():
    model, result, modes = modes_of("logistic")
    r, k = model.defaults["Birth Rate"], model.defaults["Carrying Capacity"]
    population = result.frame["Population"].to_numpy()
    np.testing.assert_allclose(modes.dominant.real, r * (1 - 2 * population / k), atol=1e-6)
    assert [p.kind for p in modes.phases] == ["growing", "decaying"]
    half = result.frame.index[np.argmax(population >= k / 2)]
    assert abs(modes.phases[1].start - half) <= model.time.time_step + 1e-9


def test_jacobian_composed_from_link_gains_equals_finite_differences():
    model = pyloop.load_model(MODELS / "predator_prey.mdl")
    result = pyloop.run(model)
    structure = causal_structure(model)
    evaluator = run_evaluator(model, result)
    jac = jacobians(structure, evaluator)
    gains = link_gains(structure, evaluator)
    stocks = list(structure.stocks)
    # the Jacobian again, by the chain rule over the link gains
    for step in (0, len(evaluator.time) // 2, len(evaluator.time) - 1):
        composed = np.zeros((len(stocks), len(stocks)))
        for j, stock in enumerate(stocks):
            for (cause, flow), g in gains.items():
                if cause != stock or structure.kinds[flow] == "stock":
                    continue
                for (f, target), g2 in gains.items():
                    if f == flow and target in stocks:
                        composed[stocks.index(target), j] += g[step] * g2[step]
        np.testing.assert_allclose(jac[step], composed, rtol=1e-6, atol=1e-9)
        lam, links = link_elasticities(structure, jac, gains, step)
        assert lam.real == pytest.approx(np.linalg.eigvals(jac[step]).real.max(), abs=1e-9)
        assert set(links) == set(gains)


def test_modes_to_dict_carries_the_phases():
    _, _, modes = modes_of("tracked_growth")
    data = modes.to_dict()
    assert data["stocks"] == ["Capital", "Perceived Capital"]
    assert len(data["dominant"]) == len(data["time"])
    (phase,) = data["phases"]
    assert phase["kind"] == "growing" and phase["eigenvalue"][0] > 0
    assert phase["loops"][0]["loop"].endswith("(through Capital, Perceived Capital)")


def test_knockout_table_has_peak_trough_and_final_per_scenario():
    table = knockout_table(MODELS / "quality" / "tank.mdl", ["Water", "Outflow"])
    assert list(table.index.names) == ["scenario", "loop", "output"]
    assert set(table.index.get_level_values("loop")) == {"B1", "B2"}
    water = table.xs("Water", level="output")
    # water rises from its initial value in every run: the trough stays put
    assert (water["trough change"] == 0).all()
    # without either balancing loop the tank fills further
    assert (water["final change"] > 0).all()
    outflow_b2 = table.loc[("(defaults)", "B2", "Outflow")]
    assert outflow_b2["knockout peak"] == 0  # the drain is switched off
    with pytest.raises(PyloopError, match="unknown loop 'B9'"):
        knockout_table(MODELS / "quality" / "tank.mdl", ["Water"], loops=["B9"])


def test_cli_prints_and_writes_the_modes(tmp_path, capsys):
    import json

    from pyloop.cli import main

    out_json = tmp_path / "loops.json"
    assert main(["loops", "--model", str(MODELS / "cooling.mdl"), "--modes",
                 "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "Modes (dominant eigenvalue" in text
    assert "decaying" in text and "-0.1 " in text
    modes = json.loads(out_json.read_text())["modes"]
    assert modes["stocks"] == ["Teacup Temperature"]
    assert all(abs(real + 0.1) < 1e-6 and imag == 0 for real, imag in modes["dominant"])
    assert [p["kind"] for p in modes["phases"]] == ["decaying"]
