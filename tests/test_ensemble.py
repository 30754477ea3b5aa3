"""Ensembles: sampling, executors, resume, Sobol/Morris, PRIM and bad input."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest

import pyloop
from pyloop.cli import main
from pyloop.sensitivity.discovery import discover
from pyloop.sensitivity.ensemble import (
    load_ensemble,
    morris_indices,
    percentile_bands,
    run_ensemble,
    sobol_indices,
)
from pyloop.errors import ParameterError, PyloopError
from pyloop.sensitivity.batch import Task, evaluate
from pyloop.declarations.uncertainty import read_uncertainty
from pyloop.sensitivity.sampling import sample

from conftest import MODELS


@pytest.fixture(scope="module")
def ishigami():
    return pyloop.load_model(MODELS / "ishigami.mdl")


@pytest.fixture(scope="module")
def branches():
    return pyloop.load_model(MODELS / "branches.mdl")


def _same(a: pd.DataFrame, b: pd.DataFrame, rtol: float = 1e-12) -> None:
    assert a.shape == b.shape
    x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    assert np.all(np.abs(x - y) <= rtol * np.maximum(np.abs(y), 1e-300)), np.max(np.abs(x - y))


# ------------------------------------------------------------------ sampling
def test_samples_are_seeded_and_inside_their_ranges(circular_model):
    spec = read_uncertainty(circular_model)
    a = spec.transform(sample(spec, "mc", 200, seed=7))
    b = spec.transform(sample(spec, "mc", 200, seed=7))
    c = spec.transform(sample(spec, "mc", 200, seed=8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    for j, p in enumerate(spec.parameters):
        assert p.low <= a[:, j].min() and a[:, j].max() <= p.high
    # the triangular parameter peaks at its mode: below the midpoint lies the
    # share its distribution function gives (within three standard errors)
    j = spec.names.index("Construction Time")
    p = spec.parameters[j]
    assert p.distribution == "triangular" and p.low < p.mode < (p.low + p.high) / 2
    many = spec.transform(sample(spec, "mc", 2000, seed=7))[:, j]
    middle = (p.low + p.high) / 2
    want = 1 - (p.high - middle) ** 2 / ((p.high - p.low) * (p.high - p.mode))
    assert abs(np.mean(many < middle) - want) < 3 * np.sqrt(want * (1 - want) / len(many))


def test_run_counts_of_each_method(ishigami):
    spec = read_uncertainty(ishigami)
    assert sample(spec, "mc", 10, 0).shape == (10, 3)
    assert sample(spec, "sobol", 16, 0).shape == (16 * (3 + 2), 3)
    assert sample(spec, "morris", 5, 0).shape == (5 * (3 + 1), 3)


# ---------------------------------------------------------------- executors
def test_vectorised_equals_serial_on_the_circular_model(circular_model):
    spec = read_uncertainty(circular_model)
    values = spec.transform(sample(spec, "mc", 4, seed=11))
    task = Task(str(circular_model.path), {}, tuple(spec.names), spec.outcomes, spec.bands, 1)
    vec = evaluate(task, values, vectorise=True)
    ser = evaluate(task, values, vectorise=False)
    assert vec.outcomes.shape == (4, len(spec.outcomes))
    assert np.ptp(vec.outcomes[:, 0]) > 0  # the samples really differ
    for a, b in ((vec.outcomes, ser.outcomes), (vec.series, ser.series)):
        assert np.all(np.abs(a - b) <= 1e-12 * np.maximum(np.abs(b), 1e-300))


def test_array_safe_helpers_match_serial_runs(branches):
    # P on both sides of 1 in one batch: IF THEN ELSE, XIDZ and ZIDZ branch per sample
    result = run_ensemble(branches, "mc", 24, seed=5, executor="vectorised")
    serial = run_ensemble(branches, "mc", 24, seed=5, executor="serial")
    p = result.samples["P"]
    assert (p > 1).any() and (p < 1).any()
    assert result.executor == "vectorised"
    _same(result.outcomes, serial.outcomes)


def test_a_model_that_cannot_be_vectorised_falls_back(tmp_path):
    model = pyloop.load_model(MODELS / "pulsed.mdl")
    with pytest.warns(RuntimeWarning, match="cannot run with array-valued constants"):
        result = run_ensemble(model, "mc", 6, seed=2, executor="processes", workers=1)
    serial = run_ensemble(model, "mc", 6, seed=2, executor="serial")
    _same(result.outcomes, serial.outcomes)


def test_every_executor_gives_the_same_results(ishigami):
    kw = dict(method="mc", samples=40, seed=3, batch_size=10)
    serial = run_ensemble(ishigami, executor="serial", **kw)
    vectorised = run_ensemble(ishigami, executor="vectorised", **kw)
    processes = run_ensemble(ishigami, executor="processes", workers=2, **kw)
    dask = run_ensemble(ishigami, executor="dask", dask_address="local", workers=2, **kw)
    assert len(serial.outcomes) == 40
    for other in (vectorised, processes, dask):
        _same(other.outcomes, serial.outcomes)
        _same(other.series["Accumulated Y"], serial.series["Accumulated Y"])


# -------------------------------------------------------------------- resume
def test_resume_after_an_interruption_gives_the_uninterrupted_result(ishigami, tmp_path):
    kw = dict(method="mc", samples=50, seed=9, batch_size=10)
    whole = run_ensemble(ishigami, out=tmp_path / "whole", **kw)
    part = run_ensemble(ishigami, out=tmp_path / "part", stop_after=2, **kw)
    assert len(part.outcomes) == 20
    # an interruption in the middle of a write leaves a partial last line
    with open(tmp_path / "part" / "outcomes.csv", "a") as fh:
        fh.write("20,0.12")
    again = load_ensemble(tmp_path / "part", ishigami)
    assert len(again.outcomes) == 20  # the partial line is not a result
    resumed = run_ensemble(ishigami, out=tmp_path / "part", resume=True, **kw)
    assert list(resumed.outcomes.index) == list(range(50))
    _same(resumed.outcomes, whole.outcomes, rtol=0)
    _same(resumed.series["Accumulated Y"], whole.series["Accumulated Y"], rtol=0)
    assert (tmp_path / "part" / "outcomes.csv").read_text() == (tmp_path / "whole" / "outcomes.csv").read_text()


def test_resume_refuses_a_different_ensemble(ishigami, tmp_path):
    run_ensemble(ishigami, "mc", 10, seed=1, out=tmp_path)
    with pytest.raises(PyloopError, match="holds a different ensemble .*seed differs"):
        run_ensemble(ishigami, "mc", 10, seed=2, out=tmp_path, resume=True)


# ------------------------------------------------------- sensitivity indices
def test_sobol_indices_of_the_ishigami_function(ishigami):
    a, b = 7.0, 0.1
    variance = a**2 / 8 + b * math.pi**4 / 5 + b**2 * math.pi**8 / 18 + 0.5
    v1 = 0.5 * (1 + b * math.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * math.pi**8 * (1 / 18 - 1 / 50)
    s1 = np.array([v1, v2, 0.0]) / variance
    st = np.array([v1 + v13, v2, v13]) / variance
    result = run_ensemble(ishigami, "sobol", 1024, seed=4)
    table = sobol_indices(result).loc["Y"].loc[["X1", "X2", "X3"]]
    assert np.all(np.abs(table["S1"].to_numpy() - s1) < np.maximum(2 * table["S1_conf"], 0.05))
    assert np.all(np.abs(table["ST"].to_numpy() - st) < np.maximum(2 * table["ST_conf"], 0.05))


def test_morris_screening_ranks_an_inactive_input_last(ishigami, tmp_path):
    result = run_ensemble(ishigami, "morris", 20, seed=1)
    table = morris_indices(result).loc["Y"]
    assert len(result.samples) == 20 * 4
    assert (table["mu_star"] >= table["mu"].abs() - 1e-12).all()
    assert table["mu_star"].idxmin() == "X3"  # X3 acts only through X3**4 * sin(X1)


# ----------------------------------------------------------------- discovery
@pytest.mark.parametrize("engine", ["pyloop", "ema_workbench"])
def test_prim_finds_a_known_box(engine):
    if engine == "ema_workbench":
        pytest.importorskip("ema_workbench")
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((2000, 3)), columns=["a", "b", "c"])
    y = (x["a"] > 0.7) & (x["b"] < 0.4)
    box = discover(x, y, threshold=0.9, engine=engine)
    assert set(box.limits.index) == {"a", "b"}
    assert abs(box.limits.at["a", "low"] - 0.7) < 0.05
    assert abs(box.limits.at["b", "high"] - 0.4) < 0.05
    assert box.density > 0.85 and box.coverage > 0.8


def test_percentile_bands_are_ordered(ishigami):
    result = run_ensemble(ishigami, "mc", 30, seed=0)
    bands = percentile_bands(result, "Accumulated Y")
    assert list(bands.columns) == [5, 25, 50, 75, 95]
    assert (bands.diff(axis=1).iloc[:, 1:] >= 0).all().all()
    with pytest.raises(PyloopError, match="no series of 'Y'"):
        percentile_bands(result, "Y")


# ----------------------------------------------------------------- bad input
def _copy(tmp_path, text: str):
    shutil.copyfile(MODELS / "ishigami.mdl", tmp_path / "ishigami.mdl")
    (tmp_path / "ishigami.uncertainty.toml").write_text(text)
    return tmp_path / "ishigami.mdl"


def test_unknown_parameter_in_the_uncertainty_file(tmp_path):
    path = _copy(tmp_path, "[parameters.X4]\n")
    with pytest.raises(ParameterError, match="unknown parameter 'X4'.*not a constant"):
        read_uncertainty(pyloop.load_model(path))


def test_empty_range_in_the_uncertainty_file(tmp_path):
    path = _copy(tmp_path, "[parameters.X1]\nmin = 1\nmax = 1\n")
    with pytest.raises(ParameterError, match="empty range"):
        read_uncertainty(pyloop.load_model(path))


def test_range_outside_the_declared_range(tmp_path):
    path = _copy(tmp_path, "[parameters.X1]\nmin = -10\nmax = 1\n")
    with pytest.raises(ParameterError, match="leaves its declared range"):
        read_uncertainty(pyloop.load_model(path))


def test_zero_samples_and_bad_sobol_counts(ishigami):
    spec = read_uncertainty(ishigami)
    with pytest.raises(PyloopError, match="positive whole number"):
        sample(spec, "mc", 0, 1)
    with pytest.raises(PyloopError, match="power of two.*try 64 or 128"):
        sample(spec, "sobol", 100, 1)
    with pytest.raises(PyloopError, match="unknown method 'fast'"):
        sample(spec, "fast", 10, 1)


@pytest.mark.parametrize(
    "text, argv, message",
    [
        ("[parameters.X1]\n", ["--samples", "0"], "--samples must be at least 1"),
        ("[parameters.Nope]\n", [], "unknown parameter 'Nope'"),
        ("[parameters.X1]\nmin = 2\nmax = 1\n", [], "empty range"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, text, argv, message):
    path = _copy(tmp_path, text)
    code = main(["sensitivity", "--model", str(path), "--out", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("pyloop: error: ") and message in err


def test_cli_writes_samples_outcomes_and_figures(tmp_path, capsys):
    path = _copy(tmp_path, (MODELS / "ishigami.uncertainty.toml").read_text())
    out = tmp_path / "out"
    code = main(["sensitivity", "--model", str(path), "--samples", "64", "--seed", "1", "--out", str(out)])
    assert code == 0
    assert (out / "fan_chart.png").stat().st_size > 0
    samples = pd.read_csv(out / "mc" / "defaults" / "samples.csv")
    outcomes = pd.read_csv(out / "mc" / "defaults" / "outcomes.csv")
    assert list(samples.columns) == ["run", "X1", "X2", "X3"] and len(samples) == 64
    assert list(outcomes.columns) == ["run", "Y"] and len(outcomes) == 64
    code = main(["sensitivity", "--model", str(path), "--method", "sobol", "--samples", "64",
                 "--out", str(out)])
    assert code == 0
    assert (out / "defaults_sobol.png").stat().st_size > 0
    table = pd.read_csv(out / "sobol" / "defaults" / "sobol.csv")
    assert set(table["parameter"]) == {"X1", "X2", "X3"}


# ------------------------------------------------------------ loop dominance
_LOGISTIC_LOOPS = """
[[loop]]
id = "R1"
name = "Births"
polarity = "R"
variables = ["Population", "Births"]

[[loop]]
id = "B1"
name = "Deaths"
polarity = "B"
variables = ["Population", "Deaths"]
"""

_LOGISTIC_UNCERTAINTY = """
[parameters."Carrying Capacity"]
min = 400
max = 2000

[outcomes."Final Population"]
variable = "Population"
statistic = "final"

[outcome_sets.loops."Births Dominance"]
statistic = "loop_dominance"
loop = "R1"

[outcome_sets.loops."Births Dominance 5-25"]
statistic = "loop_dominance"
loop = "R1"
start = 5
end = 25
"""


def _logistic(tmp_path, one_deaths_loop: bool = True):
    """logistic.mdl with a two-loop catalogue and a loop-outcome set, in tmp_path.

    In logistic.mdl deaths act through two balancing loops (Population ->
    Deaths, and Population -> Crowding -> Deaths), each weaker than births, so
    births stay in the dominant set to the end. With ``one_deaths_loop`` the
    crowding is folded into Deaths (the same dynamics, one balancing loop),
    and births dominate exactly until the population reaches half the
    carrying capacity."""
    text = (MODELS / "logistic.mdl").read_text()
    if one_deaths_loop:
        old = "Population * Birth Rate * Crowding\n"
        assert old in text
        text = text.replace(old, "Population * Birth Rate * Population / Carrying Capacity\n")
    (tmp_path / "logistic.mdl").write_text(text)
    (tmp_path / "logistic.loops.toml").write_text(_LOGISTIC_LOOPS)
    (tmp_path / "logistic.uncertainty.toml").write_text(_LOGISTIC_UNCERTAINTY)
    return pyloop.load_model(tmp_path / "logistic.mdl")


@pytest.fixture
def logistic_copy(tmp_path):
    return _logistic(tmp_path)


def test_loop_outcomes_are_opt_in(tmp_path):
    model = _logistic(tmp_path, one_deaths_loop=False)
    assert [o.name for o in read_uncertainty(model).outcomes] == ["Final Population"]
    spec = read_uncertainty(model, outcome_sets=["loops"])
    assert [o.name for o in spec.outcomes] == [
        "Final Population", "Births Dominance", "Births Dominance 5-25"]
    with pytest.raises(PyloopError, match="no outcome set 'lops'.*did you mean 'loops'"):
        read_uncertainty(model, outcome_sets=["lops"])
    # two deaths loops, each weaker than births: births always in the dominant set
    result = run_ensemble(model, "mc", 2, seed=0, spec=spec)
    assert (result.outcomes["Births Dominance"] == 1.0).all()


def test_births_dominate_until_half_the_carrying_capacity(logistic_copy):
    spec = read_uncertainty(logistic_copy, outcome_sets=["loops"])
    result = run_ensemble(logistic_copy, "mc", 3, seed=4, spec=spec, executor="serial")
    t = logistic_copy.time
    span = t.final_time - t.initial_time
    for run, capacity in result.samples["Carrying Capacity"].items():
        population = pyloop.run(logistic_copy, params={"Carrying Capacity": capacity}).frame["Population"]
        crossing = float(population.index[np.argmax(population.to_numpy() >= capacity / 2)])
        assert t.initial_time < crossing < t.final_time
        share = result.outcomes.loc[run, "Births Dominance"]
        assert abs(share - (crossing - t.initial_time) / span) <= t.time_step / span + 1e-12
        windowed = result.outcomes.loc[run, "Births Dominance 5-25"]
        assert abs(windowed - (min(max(crossing, 5), 25) - 5) / 20) <= t.time_step / 20 + 1e-12
    assert result.outcomes["Births Dominance"].nunique() >= 2


def test_loop_outcomes_are_the_same_on_every_executor(logistic_copy):
    spec = read_uncertainty(logistic_copy, outcome_sets=["loops"])
    kw = dict(method="mc", samples=4, seed=1, spec=spec)
    serial = run_ensemble(logistic_copy, executor="serial", **kw)
    processes = run_ensemble(logistic_copy, executor="processes", workers=2, **kw)
    vectorised = run_ensemble(logistic_copy, **kw)
    assert vectorised.executor == "serial"  # loop outcomes run one sample at a time
    loops = ["Births Dominance", "Births Dominance 5-25"]
    for other in (processes, vectorised):
        pd.testing.assert_frame_equal(other.outcomes[loops], serial.outcomes[loops], check_exact=True)
        _same(other.outcomes, serial.outcomes)


def test_unknown_loop_id_is_refused(logistic_copy):
    path = logistic_copy.path.with_name("logistic.uncertainty.toml")
    path.write_text(_LOGISTIC_UNCERTAINTY.replace('loop = "R1"\nstart', 'loop = "R9"\nstart'))
    with pytest.raises(PyloopError, match=r"unknown loop 'R9' for outcome 'Births Dominance 5-25'.*R1, B1"):
        read_uncertainty(logistic_copy, outcome_sets=["loops"])
    assert len(read_uncertainty(logistic_copy).outcomes) == 1  # not read unless asked for


def test_prim_keeps_only_the_restrictions_that_matter():
    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.random((1500, 8)), columns=[f"p{i}" for i in range(8)])
    y = (x["p0"] > 0.6) & (x["p1"] < 0.5) & (rng.random(1500) < 0.9)  # noisy: PRIM peels the noise too
    # no box reaches the threshold: PRIM takes the densest, shaving runs off many noise parameters
    plain = discover(x, y, threshold=0.99, engine="pyloop", simplify=0, significance=1)
    box = discover(x, y, threshold=0.99, engine="pyloop")
    assert set(box.limits.index) == {"p0", "p1"} < set(plain.limits.index)
    assert box.density >= plain.density - 0.05  # the stated tolerance (``simplify``)
    assert (box.limits["quasi_p"] < 0.05).all()


def test_prim_names_no_parameter_when_none_matters():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((300, 3)), columns=["a", "b", "c"])
    box = discover(x, rng.random(300) < 0.7, engine="pyloop")  # the condition ignores x
    assert box.limits.empty and box.coverage == 1.0


def test_vectorised_batches_hold_at_most_their_memory(monkeypatch):
    import pyloop.engine.limits as limits
    from pyloop.sensitivity.executors import BATCH_BYTES, InProcessExecutor, ProcessExecutor, vectorised_batch_size

    monkeypatch.setattr(limits, "memory_budget", lambda: 64 * BATCH_BYTES)
    per_run = BATCH_BYTES / 1024
    assert vectorised_batch_size(per_run) == 1024
    assert InProcessExecutor().batch_size(4352, per_run) == 1024  # not 1088, a quarter of the runs
    assert InProcessExecutor().batch_size(1000, per_run) == 500  # never smaller than before
    assert vectorised_batch_size(3 * BATCH_BYTES) == 1  # never an empty batch
    monkeypatch.setattr(limits, "memory_budget", lambda: BATCH_BYTES)  # a quarter of it per batch
    assert vectorised_batch_size(per_run) == 256
    assert InProcessExecutor().batch_size(10_000, per_run) == 256
    assert InProcessExecutor("serial", vectorise=False).batch_size(10_000, per_run) == 500
    # worker processes: four batches per worker when that is smaller
    assert ProcessExecutor(workers=2).batch_size(800, per_run) == 100
    assert ProcessExecutor(workers=2).batch_size(80_000, per_run) == 256


def test_an_ensemble_in_one_batch_equals_one_in_many(ishigami, tmp_path):
    kw = dict(method="mc", samples=40, seed=3)
    whole = run_ensemble(ishigami, **kw, out=tmp_path / "whole")
    many = run_ensemble(ishigami, **kw, out=tmp_path / "many", batch_size=7)
    _same(whole.outcomes, many.outcomes)
