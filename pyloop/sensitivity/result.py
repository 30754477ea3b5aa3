"""The result of an ensemble: its samples, outcomes and kept series.

:class:`EnsembleResult` is what :func:`pyloop.sensitivity.ensemble.run_ensemble`
returns and :func:`load_ensemble` reads back from an output folder;
:func:`percentile_bands` summarises its kept series. Indices of each
sampling method are in :mod:`pyloop.sensitivity.methods`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.declarations.uncertainty import UncertaintySpec, read_uncertainty
from pyloop.engine import Model
from pyloop.errors import PyloopError
from pyloop.sensitivity.sampling import sample
from pyloop.sensitivity.store import complete_lines, read_manifest, read_series, read_table

__all__ = ["EnsembleResult", "assemble_result", "load_ensemble", "percentile_bands"]


@dataclass
class EnsembleResult:
    """A finished (or resumed) ensemble.

    Attributes:
        model: the model's name.
        method: a name of :data:`pyloop.sensitivity.methods.METHODS`.
        seed: the seed of the samples.
        n: the base number of samples (runs for ``mc``; see
            :func:`pyloop.sensitivity.sampling.sample` for the others).
        spec: parameters, outcomes and kept series.
        scenario: scenario name or ``None``; ``policy`` likewise.
        base: constants fixed for every run (by the scenario and policy).
        unit: samples in the unit hypercube, runs x parameters.
        samples: parameter values, index ``run``, one column per parameter.
        outcomes: index ``run``, one column per outcome.
        series: kept variable -> DataFrame (index ``run``, one column per
            kept time).
        executor: the executor that ran the samples.
        time_units: the model's time unit.
    """

    model: str
    method: str
    seed: int
    n: int
    spec: UncertaintySpec
    scenario: str | None
    policy: str | None
    base: Mapping[str, float]
    unit: np.ndarray
    samples: pd.DataFrame
    outcomes: pd.DataFrame
    series: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    executor: str = "vectorised"
    time_units: str | None = None

    @property
    def name(self) -> str:
        name = self.scenario or self.model
        return f"{name}+{self.policy}" if self.policy else name

    def plot(self, ax=None, variable: str | None = None):
        """Fan chart of one kept series (default the first) and return the
        Axes drawn on (see :func:`pyloop.plots.fan_chart`)."""
        from pyloop.plots import fan_chart

        variable = variable or next(iter(self.series), None)
        if variable is None:
            raise PyloopError("the ensemble kept no series to draw; declare [bands] variables")
        return fan_chart(percentile_bands(self, variable), variable, label=self.name, ax=ax)



def assemble_result(
    manifest: Mapping[str, Any],
    model: Model,
    spec: UncertaintySpec,
    unit: np.ndarray,
    values: np.ndarray,
    outcomes: pd.DataFrame,
    series: pd.DataFrame | None,
    executor: str,
) -> EnsembleResult:
    """An :class:`EnsembleResult` from a manifest, samples and the outcome
    (and ``series.csv``-shaped series) rows of the runs done so far."""
    samples = pd.DataFrame(values, columns=spec.names)
    samples.index.name = "run"
    outcomes = outcomes.copy()
    outcomes["run"] = outcomes["run"].astype(int)
    outcomes = outcomes.set_index("run").sort_index().astype(float)
    kept: dict[str, pd.DataFrame] = {}
    if series is not None and not series.empty:
        series = series.copy()
        series["run"] = series["run"].astype(int)
        for variable in spec.bands:
            part = series[series["variable"] == variable].drop(columns="variable")
            part = part.set_index("run").sort_index().astype(float)
            part.columns = pd.Index([float(c) for c in part.columns], name="time")
            kept[variable] = part
    return EnsembleResult(
        model=model.name,
        method=manifest["method"],
        seed=manifest["seed"],
        n=manifest["samples"],
        spec=spec,
        scenario=manifest["scenario"],
        policy=manifest["policy"],
        base=dict(manifest["fixed"]),
        unit=unit,
        samples=samples,
        outcomes=outcomes,
        series=kept,
        executor=executor,
        time_units=model.time.units,
    )


def load_ensemble(
    out: str | os.PathLike[str],
    model: Model,
    spec: UncertaintySpec | None = None,
) -> EnsembleResult:
    """Read an ensemble written by :func:`run_ensemble` (complete or not).

    Args:
        out: the output directory.
        model: the model the ensemble ran (for names and units).
        spec: the uncertainty spec; default the model's own, with only the
            parameters the ensemble sampled (its manifest's), with the
            opt-in outcome sets the ensemble computed.
    """
    out = Path(out)
    manifest = read_manifest(out)
    if spec is None:
        spec = read_uncertainty(model)
        wanted = list(manifest.get("outcomes", {}))
        if not set(wanted) <= {o.name for o in spec.outcomes} and spec.outcome_sets:
            spec = read_uncertainty(model, outcome_sets=spec.outcome_sets)
            by_name = {o.name: o for o in spec.outcomes}
            spec = replace(spec, outcomes=tuple(by_name[n] for n in wanted if n in by_name))
        spec = spec.only(list(manifest["parameters"]))
    samples = pd.read_csv(out / "samples.csv").set_index("run")
    values = samples[spec.names].to_numpy(dtype=float)
    unit = sample(spec, manifest["method"], manifest["samples"], manifest["seed"])
    outcome_names = [o.name for o in spec.outcomes]
    outcomes = read_table(complete_lines(out / "outcomes.csv"), ["run", *outcome_names])
    series = read_series(out)
    return assemble_result(manifest, model, spec, unit, values, outcomes, series, "files")


# ----------------------------------------------------------------- analyses
def percentile_bands(
    result: EnsembleResult, variable: str, percentiles: Sequence[float] = (5, 25, 50, 75, 95)
) -> pd.DataFrame:
    """Percentiles of a kept series over the runs, at each kept time.

    Returns:
        DataFrame indexed by time, one column per percentile.
    """
    if variable not in result.series:
        kept = ", ".join(result.series) or "none"
        raise PyloopError(f"no series of '{variable}' in the ensemble; kept series: {kept}")
    frame = result.series[variable]
    bands = np.percentile(frame.to_numpy(dtype=float), list(percentiles), axis=0)
    return pd.DataFrame(bands.T, index=frame.columns, columns=list(percentiles))
