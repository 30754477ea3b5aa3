"""The report section "Against history": the model against the observed record.

When the model has an observations file (``<model>.observations.csv``, see
:mod:`pyloop.declarations.observations`) the section shows each observation
against the baseline run, calibrates the focus's constants to the
observations (a small posterior with a fixed seed, see
:mod:`pyloop.fitting.calibrate`), draws each observed variable with the
observations, the baseline, the calibrated run and the posterior band to the
end of the run, and forecasts the time of the focus's events (such as the
first contract cancellation) as a distribution over the posterior. The
posterior draws run to the final time in one vectorised PySD run. A quick
report shows the observations against the baseline only.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from pyloop.engine import Model
from pyloop.errors import PyloopError
from pyloop.report.document import Document, html_table, paragraph
from pyloop.report.sections import skipped
from pyloop.report.settings import ReportSettings
from pyloop.text_format import format_share, format_year

__all__ = [
    "EVENT_KINDS",
    "POSTERIOR_DRAWS",
    "POSTERIOR_STEPS",
    "event_times",
    "history_table",
    "section_history",
]

#: MCMC steps per walker of the report's calibration (half are burn-in; enough for an
#: R-hat below 1.05 on the case model's eight constants: the section prints it and any warning).
POSTERIOR_STEPS = 400
#: Posterior draws run to the final time for the band and the forecast.
POSTERIOR_DRAWS = 300
#: How an event's time is read off a series (see :func:`event_times`).
EVENT_KINDS = ("first above zero", "trough")

ANCHOR, TITLE = "history", "Against history"


def _say(message: str) -> None:
    print(f"  against history: {message}", file=sys.stderr, flush=True)


def history_table(obs: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Each observation against a run.

    Args:
        obs: :class:`~pyloop.declarations.observations.Observations`.
        frame: the run's results (index: time in model time units).

    Returns:
        One row per observation: ``variable``, ``time`` (model time units,
        a decimal year for a model in years), ``observed``, ``baseline``
        (the run's value, interpolated linearly between saved times as the
        calibration does), ``error %`` (baseline minus observed, percent of
        the observed value) and ``within tolerance`` (the error at most one
        standard deviation of the observation).
    """
    from pyloop.fitting.evaluation import interpolate

    index = frame.index.to_numpy(dtype=float)
    names = np.asarray(obs.variable, dtype=object)
    model_values = np.empty(len(names))
    for v in obs.variables:
        rows = names == v
        model_values[rows] = interpolate(index, frame[v].to_numpy(dtype=float)[:, None], obs.time[rows])[:, 0]
    error = model_values - obs.value
    with np.errstate(divide="ignore", invalid="ignore"):
        percent = 100.0 * error / np.abs(obs.value)
    return pd.DataFrame({
        "variable": list(obs.variable),
        "time": obs.time,
        "observed": obs.value,
        "baseline": model_values,
        "error %": percent,
        "within tolerance": np.abs(error) <= obs.sd,
    })


def event_times(times: np.ndarray, series: np.ndarray, how: str) -> np.ndarray:
    """The time of an event in each column of ``series`` (times x draws).

    ``how`` is ``"first above zero"`` (the first saved time the value
    exceeds 0) or ``"trough"`` (the time of the minimum after the series'
    maximum; a series whose maximum or minimum after it is its last value,
    still rising or still falling when the run ends, has no trough in the
    run). NaN where the event does not happen in the run.
    """
    series = np.atleast_2d(np.asarray(series, dtype=float).T).T
    out = np.full(series.shape[1], np.nan)
    if how == "first above zero":
        above = series > 0
        hit = above.any(axis=0)
        out[hit] = times[np.argmax(above[:, hit], axis=0)]
    elif how == "trough":
        for j in range(series.shape[1]):
            column = series[:, j]
            if not np.all(np.isfinite(column)):
                continue
            peak = int(np.argmax(column))
            lowest = peak + int(np.argmin(column[peak:]))
            if peak < lowest < len(column) - 1:
                out[j] = times[lowest]
    else:
        raise PyloopError(f"unknown event kind '{how}'; use one of: {', '.join(EVENT_KINDS)}")
    return out


def _forecast_row(label: str, baseline: float, calibrated: float, draws: np.ndarray) -> dict[str, Any]:
    """One row of the forecast table, written for reading: times as years
    ("never" where the event does not happen in the run), the share of
    draws in which it happens in percent."""
    happened = draws[np.isfinite(draws)]

    def when(t: float) -> str:
        return format_year(t) if np.isfinite(t) else "never"

    row: dict[str, Any] = {"event": label, "baseline": when(baseline), "calibrated": when(calibrated),
                           "share of draws": format_share(len(happened) / max(len(draws), 1), 0)}
    for q in (5, 50, 95):
        row[f"{q} %"] = when(float(np.percentile(happened, q))) if len(happened) else "never"
    return row


def _posterior(model: Model, obs: Any, params: Sequence[Any], base: dict[str, float],
               settings: ReportSettings, columns: list[str]) -> tuple[Any, np.ndarray, dict[str, np.ndarray]]:
    """Calibrate, then run the best fit and the posterior draws to the final
    time in one population run: ``(result, times, series)`` where each
    series is times x (1 + draws), the best fit first."""
    from pyloop.fitting.calibrate import CalibrationSettings, calibrate
    from pyloop.fitting.evaluation import Evaluator

    _say(f"fitting {len(params)} constants to {len(obs)} observations "
         f"({POSTERIOR_STEPS} posterior steps, seed {settings.seed})")
    result = calibrate(model, obs, params, CalibrationSettings(seed=settings.seed, samples=POSTERIOR_STEPS),
                       base=base, extends="baseline")
    flat = result.chain.flat()
    n = min(POSTERIOR_DRAWS, len(flat))
    picks = flat[np.random.default_rng(settings.seed).choice(len(flat), n, replace=False)]
    _say(f"running the best fit and {n} posterior draws to the final time")
    with Evaluator(model, result.parameters, result.base) as evaluator:
        times, series = evaluator.series(np.vstack([np.array(result.fit.x)[None, :], picks]), columns)
    return result, times, series


def section_history(doc: Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """The model against the observed record, a calibration to it and the forecast of its events."""
    from pyloop.declarations.observations import observations_path, read_observations
    from pyloop.fitting.calibrate import fit_parameters
    from pyloop.plots.fit import event_figure, fit_figure

    path = observations_path(model.path)
    if not path.is_file():
        skipped(doc, ANCHOR, TITLE, f"the model has no observations file ({path.name} beside it)")
        return
    obs = read_observations(path, model)
    base_run = next((r for r in runs["scenarios"] if r.scenario == "baseline"), runs["scenarios"][0])
    table = history_table(obs, base_run.frame)
    body = paragraph(
        f"The {base_run.name} run against the {len(obs)} observations of {path.name} "
        f"({int(table['within tolerance'].sum())} of {len(table)} within one standard deviation). "
        "The error is the run's value minus the observed one, in percent of the observed value."
    )
    body += html_table(table.assign(**{"within tolerance": table["within tolerance"].map({True: "yes", False: "NO"})}),
                       floatfmt="{:,.4g}")
    events = [e for e in settings.focus.history_events if model.resolve_name(e[1]) == e[1]]
    result = None
    if settings.quick:
        body += paragraph("A quick report does not calibrate: the figures show the baseline only.")
    else:
        try:
            params = fit_parameters(model, list(settings.focus.history_constants) or None)
        except PyloopError as exc:
            params = ()
            body += paragraph(f"No calibration: {exc}.")
        if params:
            columns = list(dict.fromkeys([*obs.variables, *(e[1] for e in events)]))
            result, times, series = _posterior(
                model, obs, params, dict(base_run.constants), settings, columns)
            body += _calibration_text(result)
    frame = base_run.frame
    base_times = frame.index.to_numpy(dtype=float)
    names = np.array(obs.variable, dtype=object)
    for v in obs.variables:
        rows = names == v
        if result is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                band = np.nanpercentile(series[v][:, 1:], [5, 95], axis=1)
            fitted, run_times = series[v][:, 0], times
        else:
            band, fitted, run_times = None, None, base_times
        fig = fit_figure(
            v, base_run.units.get(v), run_times, fitted, band, obs.time[rows], obs.value[rows], obs.sd[rows],
            np.zeros(int(rows.sum()), dtype=bool), base_run.time_units,
            baseline=(base_times, frame[v].to_numpy(dtype=float)), fitted_label="calibrated",
        )
        body += doc.figure(f"history_{_stem(v)}", fig, f"{v}: observations (+-1 sd), baseline"
                           + (", calibrated run and posterior 5-95 % band." if result is not None else "."))
    if result is not None and events:
        rows_out = []
        for label, variable, how in events:
            draws = event_times(times, series[variable][:, 1:], how)
            base_t = event_times(base_times, frame[variable].to_numpy(dtype=float), how)[0]
            best_t = event_times(times, series[variable][:, 0], how)[0]
            rows_out.append(_forecast_row(label, base_t, best_t, draws))
            share = rows_out[-1]["share of draws"]
            body += doc.figure(f"history_event_{_stem(label)}", event_figure(label, draws[np.isfinite(draws)],
                               base_run.time_units), f"{label}: its time in the {share} of the posterior draws "
                               "in which it happens before the run ends (lines: 5 %, median, 95 %).")
        body += paragraph(
            f"When the music stops: the time of each event in the baseline run, the calibrated run and "
            f"over {series[obs.variables[0]].shape[1] - 1} posterior draws (the share of draws in which "
            "it happens before the run ends, and percentiles of its time among them)."
        )
        body += html_table(pd.DataFrame(rows_out), floatfmt="{:,.4g}")
    doc.add(ANCHOR, TITLE, body)


def _calibration_text(result: Any) -> str:
    intervals = result.interval()
    rows = [{"constant": n, "best": b, "posterior 5 %": intervals[n][0], "posterior 95 %": intervals[n][1],
             "R-hat": result.diagnostics[n]["r_hat"]} for n, b in result.best.items()]
    text = paragraph(
        f"Calibrated to the observations: differential evolution, then {result.chain.positions.shape[1]} "
        f"walkers of {result.total_steps} steps (the first {result.total_steps - result.chain.steps} "
        f"burn-in); payoff {result.fit.payoff:.4g}, seed {result.settings.seed}."
        + "".join(f" Warning: {w}." for w in result.warnings)
    )
    return text + html_table(pd.DataFrame(rows), floatfmt="{:,.4g}")


def _stem(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
