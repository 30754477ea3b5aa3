"""The sensitivity study behind ``pyloop sensitivity``: ensembles, tables, figures.

For each scenario, :func:`sensitivity_study` runs an ensemble (see
:func:`pyloop.sensitivity.ensemble.run_ensemble`) into ``OUT/<method>/<scenario>/`` (``D``
below) and then writes, from its results:

- ``mc``: ``OUT/fan_chart.png`` (percentile bands of the kept series and
  the scenario's deterministic run, one panel per scenario and series), ``D/bands_<variable>.csv``, and
  when the music stops in some runs but not all, the PRIM box
  ``D/prim_box.csv``, its trajectory ``prim_trajectory.csv``
  and ``OUT/<scenario>_prim.png``;
- ``sobol``: ``D/sobol.csv`` and ``OUT/<scenario>_sobol.png``;
- ``morris``: ``D/morris.csv`` and ``OUT/<scenario>_morris.png``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from pyloop.errors import PyloopError
from pyloop.sensitivity.discovery import PrimBox, music_stops_before
from pyloop.sensitivity.ensemble import run_ensemble
from pyloop.sensitivity.methods import method as find_method
from pyloop.sensitivity.result import EnsembleResult, percentile_bands
from pyloop.files import write_file, write_files
from pyloop.engine import Model

__all__ = ["SensitivityStudy", "sensitivity_study"]

#: The outcome scenario discovery looks at.
MUSIC_STOPS = "Music Stops Time"


@dataclass
class SensitivityStudy:
    """Results of :func:`sensitivity_study`, by scenario label."""

    results: dict[str, EnsembleResult] = field(default_factory=dict)
    indices: dict[str, pd.DataFrame] = field(default_factory=dict)
    boxes: dict[str, PrimBox] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    deterministic: dict[str, pd.DataFrame] = field(default_factory=dict)


def deterministic_run(model: Model, result: EnsembleResult) -> pd.DataFrame:
    """The run of ``result``'s scenario and policy with every constant at its
    value (no sampling): index time, one column per kept series."""
    from pyloop.runner import run

    plain = run(model, result.scenario, result.policy, return_columns=list(result.series))
    return plain.frame[[v for v in result.series if v in plain.frame.columns]]


def sensitivity_study(
    model: Model,
    method: str = "mc",
    samples: int = 1000,
    seed: int = 0,
    scenarios: Sequence[str | None] = (None,),
    policy: str | None = None,
    out: str | os.PathLike[str] = "sensitivity",
    before: float = 2030.0,
    keep_series: bool = True,
    **ensemble_options,
) -> SensitivityStudy:
    """Run the ensembles of a sensitivity study and write its tables and figures.

    Args:
        model: the loaded model.
        method: a name of :data:`pyloop.sensitivity.methods.METHODS`
            (``"mc"``, ``"sobol"`` or ``"morris"``).
        samples: base number of samples per scenario.
        seed: the seed (the same for every scenario).
        scenarios: scenario names (``None``: the model's defaults).
        policy: a policy applied in every scenario.
        out: the output directory.
        before: scenario discovery looks for the box in which the music
            stops before this time.
        keep_series: keep each ensemble's series file; ``False`` removes it
            once the bands, figures and indices are written (the report keeps
            only the bands it draws; the results returned still hold them).
        **ensemble_options: passed to :func:`~pyloop.sensitivity.ensemble.run_ensemble`
            (``executor``, ``workers``, ``dask_address``, ``resume``,
            ``overwrite``, ``progress``, ``batch_size``).

    Every table and figure is written all-or-nothing (:mod:`pyloop.files`).
    """
    from pyloop.plots import fan_chart_figure, prim_figure, save_figure

    out = Path(out)
    study = SensitivityStudy()
    for scenario in dict.fromkeys(scenarios):
        label = scenario or "defaults"
        if policy:
            label += f"+{policy}"
        folder = out / method / label
        options = dict(ensemble_options)
        if isinstance(options.get("progress"), str):  # label the bar with the scenario
            options["progress"] = f"{options['progress']} {label}"
        result = run_ensemble(model, method, samples, seed, scenario=scenario, policy=policy, out=folder, **options)
        study.results[label] = result
        chosen = find_method(method)  # known: run_ensemble sampled with it
        if len(result.outcomes) < len(result.samples):
            continue  # interrupted: nothing to analyse yet
        table = chosen.analyze(result) if chosen.HAS_INDICES else None
        if table is not None:
            study.indices[label] = table
            write_file(folder / f"{method}.csv", table.to_csv)
            fig = chosen.figure(table, title=f"{model.name} ({label}): {method} indices, {len(result.samples)} runs")
            path = out / f"{label}_{method}.png"
            write_file(path, lambda target: save_figure(fig, target))
            study.files += [folder / f"{method}.csv", path]
        if chosen.INDEPENDENT:
            for variable in result.series:
                path = folder / f"bands_{variable.replace(' ', '_')}.csv"
                write_file(path, percentile_bands(result, variable).to_csv)
                study.files.append(path)
            if MUSIC_STOPS in result.outcomes.columns:
                stops = result.outcomes[MUSIC_STOPS] < before
                if stops.any() and not stops.all():
                    box = music_stops_before(result, before)
                    study.boxes[label] = box
                    write_files(folder, {
                        "prim_box.csv": box.limits.to_csv,
                        "prim_trajectory.csv": lambda target: box.trajectory.to_csv(target, index_label="peel"),
                    })
                    fig = prim_figure(box, title=f"{model.name} ({label}): {box.condition}, "
                                      f"{stops.mean():.0%} of {len(stops)} runs")
                    path = out / f"{label}_prim.png"
                    write_file(path, lambda target: save_figure(fig, target))
                    study.files += [folder / "prim_box.csv", folder / "prim_trajectory.csv", path]
    complete = {k: r for k, r in study.results.items() if len(r.outcomes) == len(r.samples)}
    if complete and find_method(method).INDEPENDENT:
        first = next(iter(complete.values()))
        plain = {k: deterministic_run(model, r) for k, r in complete.items()}
        study.deterministic = plain
        panels = []
        for variable in first.series:
            units = model.variable(variable).units
            panels.append((variable, units, [(k, percentile_bands(r, variable), plain[k].get(variable))
                                             for k, r in complete.items() if variable in r.series]))
        if panels:
            fig = fan_chart_figure(panels, title=f"{model.name}: 5-25-50-75-95 % bands of "
                                   f"{len(first.samples)} runs per scenario, and its deterministic run",
                                   time_units=model.time.units)
            path = out / "fan_chart.png"
            write_file(path, lambda target: save_figure(fig, target))
            study.files.append(path)
    if not keep_series:
        for label in study.results:
            for name in ("series.parquet", "series.csv"):
                (out / method / label / name).unlink(missing_ok=True)
    return study


def check_samples(samples: int) -> None:
    """Raise :class:`PyloopError` for a non-positive number of samples."""
    if samples < 1:
        raise PyloopError(f"the number of samples must be at least 1, not {samples}")
