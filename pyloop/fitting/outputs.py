"""The files a calibration writes, all-or-nothing, into one folder.

- ``calibrated.scenarios.toml``: the best-fit constants as a scenario
  ``[scenarios.calibrated]`` (extending the model's baseline when it has
  one), to paste into the model's ``X.scenarios.toml`` for ``pyloop run``;
- ``fit_table.csv``: one row per observation: variable, time, observed,
  fitted, error (fitted - observed), standardised error (error / sd),
  within tolerance (``|standardised error| <= 1``), sd, weight and whether
  the row was fitted or held out;
- ``posterior_samples.csv``: the posterior draws after burn-in (walker,
  step, one column per constant, log-probability);
- ``summary.json``: payoff, best values, posterior intervals, R-hat, ESS,
  acceptance fraction, holdout errors and warnings;
- ``fit_<variable>.png``: per observed variable the data, the best-fit run
  and the 5-95 % posterior band.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pyloop.fitting.calibrate import CalibrationResult, posterior_band

__all__ = ["SCENARIO_FILE", "figure_name", "scenario_text", "write_calibration"]

#: Name of the scenario file written, and of the scenario in it.
SCENARIO_FILE = "calibrated.scenarios.toml"
SCENARIO_NAME = "calibrated"


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def scenario_text(result: CalibrationResult, data_name: str | None = None) -> str:
    """The best-fit constants as a scenario file with one scenario."""
    fitted_on = f" to {data_name}" if data_name else ""
    description = f"Constants fitted{fitted_on} (payoff {result.fit.payoff:.6g}, seed {result.settings.seed})."
    lines = [
        "# Best-fit constants of 'pyloop calibrate'. Copy the table below into the",
        "# model's scenario file (X.scenarios.toml beside X.mdl) to run it with 'pyloop run calibrated'.",
        "",
        f"[scenarios.{SCENARIO_NAME}]",
        f"description = {_toml_string(description)}",
    ]
    if result.extends:
        lines.append(f"extends = {_toml_string(result.extends)}")
    lines += ["", f"[scenarios.{SCENARIO_NAME}.constants]"]
    lines += [f"{_toml_string(name)} = {float(value)!r}" for name, value in result.best.items()]
    return "\n".join(lines) + "\n"


def figure_name(variable: str) -> str:
    """File name of the figure of one observed variable."""
    return "fit_" + (re.sub(r"[^a-z0-9]+", "_", variable.lower()).strip("_") or "variable") + ".png"


def _samples_frame(result: CalibrationResult):
    import pandas as pd

    chain = result.chain
    steps, walkers, _ = chain.positions.shape
    first = result.total_steps - steps
    frame = pd.DataFrame({
        "walker": np.tile(np.arange(walkers), steps),
        "step": np.repeat(np.arange(first, first + steps), walkers),
    })
    for j, name in enumerate(result.names):
        frame[name] = chain.positions[:, :, j].reshape(-1)
    frame["log_prob"] = chain.log_prob.reshape(-1)
    return frame


def write_calibration(
    out: Path, model: Any, result: CalibrationResult, data_name: str | None = None,
    workers: int | None = None, dask: str | None = None,
) -> list[Path]:
    """Write every output of a calibration into ``out`` (all or nothing).

    Runs the best fit and the posterior draws once more for the figures.

    Raises:
        OutputError: a file cannot be written.
    """
    from pyloop.files import write_files
    from pyloop.plots.fit import fit_figure
    from pyloop.plots import save_figure

    obs = result.observations
    variables = obs.variables
    times, fitted, band = posterior_band(model, result, variables, workers=workers, dask=dask)
    summary = json.dumps(result.summary(), indent=2, allow_nan=True) + "\n"
    writers: dict[str, Callable[[Path], None]] = {
        SCENARIO_FILE: lambda p: p.write_text(scenario_text(result, data_name), encoding="utf-8"),
        "fit_table.csv": lambda p: result.table().to_csv(p, index=False),
        "posterior_samples.csv": lambda p: _samples_frame(result).to_csv(p, index=False),
        "summary.json": lambda p: p.write_text(summary, encoding="utf-8"),
    }
    names = np.array(obs.variable, dtype=object)
    for v in variables:
        rows = names == v

        def draw(path: Path, v: str = v, rows: np.ndarray = rows) -> None:
            fig = fit_figure(
                v, model.variable(v).units, times, fitted[v], band[v], obs.time[rows], obs.value[rows],
                obs.sd[rows], result.holdout[rows], model.time.units, result.settings.holdout_after,
            )
            save_figure(fig, path)

        writers[figure_name(v)] = draw
    return write_files(out, writers)
