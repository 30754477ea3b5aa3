"""Knockout runs: switch named loops off and measure what changes."""

from __future__ import annotations

import os
import sys
from typing import Callable, Mapping, Sequence

import pandas as pd

from pyloop.errors import PyloopError
from pyloop.engine import Model
from pyloop.runner import RunResult, plan_runs, run_together
from pyloop.declarations.catalogue import CatalogueLoop, load_catalogue


def knockouts(
    model: Model | str | os.PathLike[str],
    scenario: str | None = None,
    policy: str | None = None,
    outputs: Sequence[str] = (),
    *,
    loops: Sequence[str] | None = None,
    catalogue: Sequence[CatalogueLoop] | None = None,
    params: Mapping[str, float] | None = None,
    on_run: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, dict[str, RunResult]]:
    """Switch each named loop off in turn and measure what changes.

    Args:
        model: a loaded model or a model file.
        scenario, policy, params: the run every knockout starts from.
        outputs: variables to compare (at least one).
        loops: catalogue ids to knock out; default every loop with a switch.
        catalogue: default the model's catalogue.
        on_run: called with each run's name after the run (``len(loops) + 1``
            runs: the base run, then one per loop).

    Returns:
        ``(table, runs)``: the table has one row per ``(loop, output)`` with
        the base run's and the knockout run's peak (maximum) and final value
        and their changes (knockout minus base, and relative to the base);
        ``runs`` maps ``"base"`` and each loop id to its run.

    Raises:
        PyloopError: no outputs, an unknown loop id, or a loop without a
            switch; the usual run errors.
    """
    from pyloop.engine import load_model

    model = model if isinstance(model, Model) else load_model(model)
    outputs = [model.variable(o).name for o in outputs]
    if not outputs:
        raise PyloopError("name at least one output variable to compare knockouts on")
    cat = {e.id: e for e in (load_catalogue(model) if catalogue is None else catalogue)}
    if loops is None:
        loops = [lid for lid, e in cat.items() if e.switch]
        if not loops:
            raise PyloopError(
                f"model '{model.name}' has no loop catalogue with switches: declare named "
                "loops with a 'switch' constant in its .loops.toml to knock them out"
            )
    for lid in loops:
        if lid not in cat:
            from pyloop.errors import suggest

            raise PyloopError(f"unknown loop '{lid}'" + suggest(lid, cat))
        if not cat[lid].switch:
            raise PyloopError(f"loop '{lid}' has no switch constant to knock it out")
    plans = plan_runs(model, [scenario], policy, params, return_columns=outputs)
    for lid in loops:
        plans += plan_runs(model, [scenario], policy, {**(params or {}), cat[lid].switch: 0},
                           return_columns=outputs, name=f"{plans[0].name}-{lid}")
    # the runs differ only in a switch constant: one vectorised run for all of them
    results = run_together(model, plans, raise_failure=True)
    base, runs = results[0], {"base": results[0]}
    if on_run is not None:
        on_run(base.name)
    rows = []
    for lid, result in zip(loops, results[1:]):
        runs[lid] = result
        if on_run is not None:
            on_run(result.name)
        for out in outputs:
            b = base.frame[out].to_numpy(dtype=float)
            k = runs[lid].frame[out].to_numpy(dtype=float)
            row = {"loop": lid, "output": out}
            for label, fb, fk in (("peak", b.max(), k.max()), ("final", b[-1], k[-1])):
                row[f"base {label}"] = fb
                row[f"knockout {label}"] = fk
                row[f"{label} change"] = fk - fb
                row[f"{label} change %"] = 100 * (fk - fb) / abs(fb) if fb else float("nan")
            rows.append(row)
    table = pd.DataFrame(rows).set_index(["loop", "output"])
    return table, runs


def knockout_table(
    model: Model | str | os.PathLike[str],
    outputs: Sequence[str],
    scenarios: Sequence[str | None] = (None,),
    *,
    loops: Sequence[str] | None = None,
    policy: str | None = None,
    catalogue: Sequence[CatalogueLoop] | None = None,
    params: Mapping[str, float] | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """The effect of switching each named loop off, per scenario, as a table.

    Args:
        model: a loaded model or a model file.
        outputs: the key variables to compare (at least one).
        scenarios: the scenarios to start from (None: the model's defaults).
        loops, policy, catalogue, params: as in :func:`knockouts`.
        progress: show a progress bar of the runs on stderr; default when
            stderr is a terminal and there are more than
            :data:`PROGRESS_AFTER` runs.

    Every scenario costs ``len(loops) + 1`` runs (its base run and one run
    per loop switched off).

    Returns:
        One row per ``(scenario, loop, output)`` (the scenario ``"(defaults)"``
        for None), with the base run's and the knockout run's ``peak``
        (maximum), ``trough`` (minimum) and ``final`` value and, for each,
        the change (knockout minus base) and the relative change in percent
        of the base's magnitude (NaN where the base is 0).

    Raises:
        PyloopError: an unknown scenario (before any run), or as
            :func:`knockouts`.
    """
    from pyloop.engine import load_model
    from pyloop.declarations.scenarios import load_scenarios

    model = model if isinstance(model, Model) else load_model(model)
    if not scenarios:
        raise PyloopError("name at least one scenario (None for the model's defaults)")
    named = [s for s in scenarios if s is not None]
    if named:
        scenario_file = load_scenarios(model)
        for scenario in named:
            scenario_file.scenario(scenario)
    if loops is not None and not loops:
        raise PyloopError("name at least one loop to knock out (None for every switched loop)")
    if catalogue is None:
        catalogue = load_catalogue(model)
    if loops is None:
        loops = [e.id for e in catalogue if e.switch]
    total = len(scenarios) * (len(loops) + 1)
    bar = _progress_bar(total, progress)
    rows = []
    try:
        for scenario in scenarios:
            _, runs = knockouts(
                model, scenario, policy, outputs, loops=loops or None, catalogue=catalogue,
                params=params, on_run=None if bar is None else (lambda _name: bar.update()),
            )
            rows += knockout_rows(scenario, runs)
    finally:
        if bar is not None:
            bar.close()
    return pd.DataFrame(rows).set_index(["scenario", "loop", "output"])


#: More runs than this show a progress bar (on a terminal).
PROGRESS_AFTER = 3


def _progress_bar(total: int, enabled: bool | None):
    if enabled is None:
        enabled = total > PROGRESS_AFTER and sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="knockout runs", unit="run", file=sys.stderr, leave=False)


def knockout_rows(scenario: str | None, runs: Mapping[str, RunResult]) -> list[dict[str, object]]:
    """Rows of :func:`knockout_table` for one scenario's knockout runs
    (``"base"`` and one run per loop id, as :func:`knockouts` returns them):
    one per loop and output, in the runs' order and the base run's column
    order."""
    rows = []
    base = runs["base"]
    for lid, knocked in runs.items():
        if lid == "base":
            continue
        for out in base.frame.columns:
            b = base.frame[out].to_numpy(dtype=float)
            k = knocked.frame[out].to_numpy(dtype=float)
            row: dict[str, object] = {
                "scenario": scenario if scenario is not None else "(defaults)",
                "loop": lid,
                "output": out,
            }
            for label, fb, fk in (
                ("peak", b.max(), k.max()),
                ("trough", b.min(), k.min()),
                ("final", b[-1], k[-1]),
            ):
                row[f"base {label}"] = fb
                row[f"knockout {label}"] = fk
                row[f"{label} change"] = fk - fb
                row[f"{label} change %"] = 100 * (fk - fb) / abs(fb) if fb else float("nan")
            rows.append(row)
    return rows
