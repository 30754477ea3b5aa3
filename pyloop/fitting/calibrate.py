"""Fit constants of a model to observed time series: payoff, global fit, posterior.

The payoff of a parameter set is Vensim's weighted sum of squared
standardised errors over the observations ``i``::

    payoff = sum_i w_i * ((m_i - y_i) / sd_i) ** 2

where ``y_i`` is the observed value, ``sd_i`` its error standard deviation,
``w_i`` its weight and ``m_i`` the model's value at the observation time,
interpolated linearly between the saved times of the run. With Gaussian
errors the log-likelihood is ``-payoff / 2`` (plus a constant).

:class:`~pyloop.fitting.evaluation.Evaluator` computes the payoff of a whole
population of parameter sets in one PySD run, optionally split over local
worker processes or a Dask cluster. :func:`global_fit`
drives it with SciPy's vectorised differential evolution;
:mod:`pyloop.fitting.posterior` samples the posterior with emcee's vectorised
ensemble sampler (uniform priors on the ranges), started around the best
fit, and reports ArviZ's R-hat and effective sample size. :func:`calibrate` runs the whole
study, checkpointing each phase (:mod:`pyloop.fitting.checkpoint`) so that an
interrupted study resumes to the same result. The method is written down in ``docs/calibration.md``.
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from pyloop.errors import ParameterError, PyloopError, suggest
from pyloop.fitting.checkpoint import Checkpoint, fingerprint
from pyloop.fitting.evaluation import Evaluator, FitParameter, payoff
from pyloop.fitting.posterior import Chain, bars_disabled, diagnose, sample_posterior, start_walkers
from pyloop.declarations.observations import Observations

__all__ = [
    "CalibrationResult",
    "Chain",
    "Checkpoint",
    "CalibrationSettings",
    "DEResult",
    "Evaluator",
    "FitParameter",
    "RHAT_LIMIT",
    "calibrate",
    "diagnose",
    "fit_parameters",
    "global_fit",
    "payoff",
    "posterior_band",
    "sample_posterior",
    "start_walkers",
]

#: Chains whose R-hat exceeds this have not mixed; the summary warns.
RHAT_LIMIT = 1.05


@dataclass(frozen=True)
class CalibrationSettings:
    """How hard to search and sample.

    Attributes:
        seed: seed of the global fit and of the sampler.
        samples: MCMC steps per walker; the first ``burn_fraction`` of
            them are discarded.
        walkers: number of emcee walkers (default ``max(32, 16 * D)``, even;
            a step of all walkers is one population run, whose cost hardly
            depends on its size, and more walkers give the independence
            proposal more points to fit and R-hat more chains).
        popsize: differential evolution population multiplier (population
            ``popsize * D``); larger than SciPy's 15 by default, since one
            vectorised run costs about the same for 30 or 100 members.
        maxiter: most differential evolution generations.
        tol: relative convergence tolerance of differential evolution.
        burn_fraction: share of each chain discarded as burn-in.
        band_draws: posterior draws run to draw the 5-95 % band.
        chunks: the chain is sampled (and checkpointed) in this many pieces.
        holdout_after: fit only observations at or before this time; later
            ones are scored out of sample.
    """

    seed: int = 0
    samples: int = 1000
    walkers: int | None = None
    popsize: int = 40
    maxiter: int = 300
    tol: float = 0.01
    burn_fraction: float = 0.5
    band_draws: int = 200
    chunks: int = 10
    holdout_after: float | None = None


# ----------------------------------------------------------------- parameters
def _declared_range(model: Any, name: str, where: str) -> tuple[str, tuple[float | None, float | None]]:
    resolved = model.resolve_name(name)
    var = model.variable(resolved) if resolved else None
    if var is None or var.kind != "constant":
        raise ParameterError(
            f"unknown constant '{name}' in {where}"
            + (suggest(name, model.constants) or f"; model '{model.name}' has no such constant")
        )
    return var.name, var.range or (None, None)


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ParameterError(f"{what} '{text.strip()}' is not a finite number")
    return value


def fit_parameters(model: Any, options: Sequence[str] | None = None) -> tuple[FitParameter, ...]:
    """The constants to fit: from ``--param`` options, else the uncertainty file.

    Args:
        model: a loaded :class:`~pyloop.engine.Model`.
        options: ``"NAME=LOW:HIGH"`` or ``"NAME"`` (the constant's declared
            Vensim range); when empty, every parameter of the model's
            uncertainty file (``X.uncertainty.toml``; without one, every
            constant with a finite declared range).

    Raises:
        ParameterError: an unknown constant, a malformed option, an empty
            range, a range outside the declared one, or no range at all.
        PyloopError: no parameters, or one named twice.
    """
    if not options:
        from pyloop.declarations.uncertainty import read_uncertainty

        spec = read_uncertainty(model)
        params = tuple(FitParameter(p.name, p.low, p.high) for p in spec.parameters)
        if not params:
            raise PyloopError(
                f"model '{model.name}' declares nothing to fit: no uncertainty file and no constant "
                "with a finite range; name constants with --param NAME=LOW:HIGH"
            )
        return params
    out: list[FitParameter] = []
    for option in options:
        name, sep, rng = option.partition("=")
        if not name.strip():
            raise ParameterError(f"--param takes NAME=LOW:HIGH or NAME, not '{option}'")
        canonical, (dlo, dhi) = _declared_range(model, name.strip(), "--param")
        if sep:
            low_text, colon, high_text = rng.partition(":")
            if not colon:
                raise ParameterError(f"--param '{canonical}': write the range as LOW:HIGH, not '{rng}'")
            low = _number(low_text, f"--param '{canonical}': low")
            high = _number(high_text, f"--param '{canonical}': high")
            if (dlo is not None and low < dlo) or (dhi is not None and high > dhi):
                shown = f"[{'?' if dlo is None else f'{dlo:g}'}, {'?' if dhi is None else f'{dhi:g}'}]"
                raise ParameterError(
                    f"--param '{canonical}': range [{low:g}, {high:g}] leaves its declared range "
                    f"{shown}; narrow it or widen the range in the model"
                )
        else:
            if dlo is None or dhi is None:
                raise ParameterError(
                    f"--param '{canonical}' has no finite declared range; give one as "
                    f"--param '{canonical}=LOW:HIGH'"
                )
            low, high = float(dlo), float(dhi)
        if not low < high:
            raise ParameterError(
                f"--param '{canonical}': the range [{low:g}, {high:g}] is empty; LOW must be below HIGH"
            )
        if any(p.name == canonical for p in out):
            raise PyloopError(f"--param '{canonical}' is given twice")
        out.append(FitParameter(canonical, low, high))
    return tuple(out)


# ----------------------------------------------------------------- global fit
@dataclass(frozen=True)
class DEResult:
    """The outcome of the global fit.

    Attributes:
        x: best parameter values (in the order of the parameters).
        payoff: the payoff there.
        evaluations: model evaluations used.
        generations: differential evolution generations run.
        message: SciPy's stopping reason.
    """

    x: tuple[float, ...]
    payoff: float
    evaluations: int
    generations: int
    message: str


def global_fit(
    evaluator: Evaluator, obs: Observations, settings: CalibrationSettings, progress: bool | None = None
) -> DEResult:
    """Minimise the payoff with ``scipy.optimize.differential_evolution``
    (``vectorized=True``: each generation is one population evaluation),
    polished by L-BFGS-B."""
    from scipy.optimize import differential_evolution
    from tqdm import tqdm

    bounds = [(p.low, p.high) for p in evaluator.parameters]
    start = evaluator.evaluations
    bar = tqdm(total=settings.maxiter, desc="global fit (generations)", file=sys.stderr,
               disable=bars_disabled(progress), leave=False)

    def energies(x: np.ndarray) -> np.ndarray:
        return evaluator.payoff(np.asarray(x).T, obs)

    def step(intermediate_result: Any) -> None:
        bar.update(1)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = differential_evolution(
                energies, bounds, vectorized=True, updating="deferred", seed=settings.seed,
                popsize=settings.popsize, maxiter=settings.maxiter, tol=settings.tol,
                polish=False, callback=step,
            )
            x, fun = np.asarray(res.x, dtype=float), float(res.fun)
            if math.isfinite(fun):
                x, fun = _polish(energies, x, fun, bounds)
    finally:
        bar.close()
    if not math.isfinite(fun):
        raise PyloopError(
            "no parameter set in the ranges gives a finite run at the observation times; "
            "narrow the ranges with --param NAME=LOW:HIGH"
        )
    return DEResult(tuple(float(v) for v in x), fun, evaluator.evaluations - start, int(res.nit), str(res.message))


def _polish(
    energies: Callable[[np.ndarray], np.ndarray], x: np.ndarray, fun: float, bounds: list[tuple[float, float]]
) -> tuple[np.ndarray, float]:
    """Refine the best member of differential evolution with L-BFGS-B.

    The payoff and its forward-difference gradient (SciPy's default step,
    ``sqrt(eps) * max(1, |x|)``, turned inwards at a bound) come from one
    population run of ``D + 1`` points instead of ``D + 1`` runs.
    """
    from scipy.optimize import minimize

    low = np.array([b[0] for b in bounds])
    high = np.array([b[1] for b in bounds])

    def value_and_gradient(v: np.ndarray) -> tuple[float, np.ndarray]:
        v = np.clip(np.asarray(v, dtype=float), low, high)
        h = np.sqrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(v))
        h = np.where(v + h <= high, h, -h)
        points = np.vstack([v, v + np.diag(h)])
        f = energies(points.T)
        if not np.all(np.isfinite(f)):
            return float(f[0]), np.zeros_like(v)
        return float(f[0]), (f[1:] - f[0]) / h

    polished = minimize(value_and_gradient, x, jac=True, method="L-BFGS-B", bounds=bounds)
    if math.isfinite(polished.fun) and polished.fun < fun:
        return np.clip(polished.x, low, high), float(polished.fun)
    return x, fun


# ------------------------------------------------------------------- the study
@dataclass
class CalibrationResult:
    """Everything a calibration found.

    Attributes:
        parameters: the fitted constants and their ranges.
        fit: the global fit (on the fitting observations).
        chain: the posterior chain after burn-in.
        diagnostics: R-hat and ESS per parameter.
        observations: every observation (fitting and held out).
        holdout: True for each held-out observation.
        fitted: model values at every observation for the best fit.
        base: constants fixed for every run (the baseline scenario's).
        extends: the scenario the calibrated one extends, or None.
        warnings: sentences about problems found (such as R-hat too high).
        settings: the settings used.
        total_steps: MCMC steps per walker, burn-in included.
    """

    parameters: tuple[FitParameter, ...]
    fit: DEResult
    chain: Chain
    diagnostics: dict[str, dict[str, float]]
    observations: Observations
    holdout: np.ndarray
    fitted: np.ndarray
    base: dict[str, float]
    extends: str | None
    settings: CalibrationSettings
    total_steps: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def best(self) -> dict[str, float]:
        return dict(zip(self.names, self.fit.x))

    def interval(self, low: float = 5, high: float = 95) -> dict[str, tuple[float, float]]:
        """Posterior percentile interval of each parameter."""
        flat = self.chain.flat()
        return {n: (float(np.percentile(flat[:, j], low)), float(np.percentile(flat[:, j], high)))
                for j, n in enumerate(self.names)}

    @property
    def acceptance(self) -> float:
        """Mean acceptance fraction of the walkers over the whole chain."""
        return float(self.chain.accepted.mean() / self.total_steps)

    def table(self):
        """The fit table: one row per observation (pandas DataFrame)."""
        import pandas as pd

        obs = self.observations
        error = self.fitted - obs.value
        z = error / obs.sd
        return pd.DataFrame({
            "variable": list(obs.variable),
            "time": obs.time,
            "observed": obs.value,
            "fitted": self.fitted,
            "error": error,
            "standardised error": z,
            "within tolerance": np.abs(z) <= 1.0,
            "sd": obs.sd,
            "weight": obs.weight,
            "set": np.where(self.holdout, "holdout", "fit"),
        })

    def holdout_scores(self) -> dict[str, Any] | None:
        """Out-of-sample errors on the held-out observations, or None."""
        if not self.holdout.any():
            return None
        obs = self.observations.select(self.holdout)
        fitted = self.fitted[self.holdout]
        z = (fitted - obs.value) / obs.sd
        per_variable = {}
        names = np.array(obs.variable, dtype=object)
        for v in obs.variables:
            rows = names == v
            per_variable[v] = {
                "observations": int(rows.sum()),
                "rmse": float(np.sqrt(np.mean((fitted[rows] - obs.value[rows]) ** 2))),
                "rms standardised error": float(np.sqrt(np.mean(z[rows] ** 2))),
            }
        return {
            "after": self.settings.holdout_after,
            "observations": len(obs),
            "payoff": float(payoff(fitted[None, :], obs)[0]),
            "within tolerance": float(np.mean(np.abs(z) <= 1.0)),
            "variables": per_variable,
        }

    def summary(self) -> dict[str, Any]:
        """Plain data for ``summary.json``."""
        intervals = self.interval()
        obs = self.observations
        return {
            "payoff": self.fit.payoff,
            "fit observations": int((~self.holdout).sum()),
            "best": self.best,
            "ranges": {p.name: [p.low, p.high] for p in self.parameters},
            "posterior 5-95%": {n: list(v) for n, v in intervals.items()},
            "posterior mean": {n: float(self.chain.flat()[:, j].mean()) for j, n in enumerate(self.names)},
            "r_hat": {n: d["r_hat"] for n, d in self.diagnostics.items()},
            "ess": {n: d["ess"] for n, d in self.diagnostics.items()},
            "acceptance fraction": self.acceptance,
            "walkers": int(self.chain.positions.shape[1]),
            "steps": self.total_steps,
            "burn-in steps": self.total_steps - self.chain.steps,
            "global fit": {"evaluations": self.fit.evaluations, "generations": self.fit.generations,
                           "message": self.fit.message},
            "holdout": self.holdout_scores(),
            "observed variables": obs.variables,
            "seed": self.settings.seed,
            "extends": self.extends,
            "warnings": self.warnings,
        }


def _check_memory(model: Any, obs: Observations, d: int, walkers: int, settings: CalibrationSettings) -> None:
    """Refuse, before any run, a chain or a population run that cannot fit in memory."""
    from pyloop.engine.limits import BYTES_PER_SAVED_VALUE, check_memory

    # the chain, its log-probabilities and a copy while the samples table is built
    check_memory(3 * 8.0 * settings.samples * walkers * (d + 1),
                 f"a chain of {settings.samples} steps of {walkers} walkers", "choose a smaller --samples")
    t = model.time
    saved = (t.final_time - t.initial_time) / t.saveper + 1
    population = max(settings.popsize * d, settings.band_draws + 1, walkers)
    check_memory(BYTES_PER_SAVED_VALUE * saved * population * len(obs.variables),
                 f"one run of {population} parameter sets", "observe fewer variables or fit fewer constants")


def calibrate(
    model: Any,
    obs: Observations,
    parameters: Sequence[FitParameter],
    settings: CalibrationSettings = CalibrationSettings(),
    base: Mapping[str, float] | None = None,
    extends: str | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    workers: int | None = None,
    dask: str | None = None,
    progress: bool | None = None,
) -> CalibrationResult:
    """Fit ``parameters`` to ``obs``: global fit, then posterior sampling.

    Args:
        model: a loaded :class:`~pyloop.engine.Model`.
        obs: the observations (checked against the model).
        parameters: constants to fit with their ranges.
        settings: search and sampling settings (seed, steps, holdout, ...).
        base: constants fixed in every run (e.g. the baseline scenario's).
        extends: the scenario the result extends (recorded only).
        checkpoint_dir: folder for checkpoints (none when ``None``).
        resume: continue the checkpoint in ``checkpoint_dir``.
        workers: local worker processes per population (default: this one).
        dask: Dask scheduler address or ``"local"``.
        progress: show progress bars on stderr (None: when it is a terminal).

    Raises:
        PyloopError: no observation to fit (all after ``holdout_after``),
            nothing to resume, a checkpoint of another problem, a bad
            setting, or no finite run in the ranges.
    """
    if settings.samples < 2:
        raise PyloopError(f"--samples must be at least 2, not {settings.samples}")
    if workers is not None and workers < 1:
        raise PyloopError(f"--workers must be at least 1, not {workers}")
    holdout = np.zeros(len(obs), dtype=bool)
    if settings.holdout_after is not None:
        holdout = obs.time > settings.holdout_after
        if holdout.all():
            raise PyloopError(
                f"no observation at or before --holdout-after {settings.holdout_after:g} to fit; "
                f"the first is at {obs.time.min():g}"
            )
        if not holdout.any():
            raise PyloopError(
                f"no observation after --holdout-after {settings.holdout_after:g} to hold out; "
                f"the last is at {obs.time.max():g}"
            )
    fit_obs = obs.select(~holdout)
    base = {k: v for k, v in (base or {}).items() if k not in {p.name for p in parameters}}
    d = len(parameters)
    walkers = settings.walkers or max(32, 16 * d)
    walkers += walkers % 2
    _check_memory(model, obs, d, walkers, settings)
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = Checkpoint(checkpoint_dir, fingerprint(model, obs, parameters, base, settings))
        if resume:
            if not checkpoint.exists():
                raise PyloopError(
                    f"nothing to resume: no interrupted calibration in '{checkpoint.folder.name}'; "
                    "run again without --resume"
                )
            checkpoint.check()
        else:
            checkpoint.start()
    elif resume:
        raise PyloopError("--resume needs an output folder to find the interrupted calibration in")
    try:
        with Evaluator(model, parameters, base, workers=workers, dask=dask) as evaluator:
            fit = checkpoint.load_fit() if checkpoint else None
            if fit is None:
                fit = global_fit(evaluator, fit_obs, settings, progress)
                if checkpoint:
                    checkpoint.save_fit(fit)
            start = start_walkers(evaluator, fit_obs, fit.x, walkers, settings.seed)
            chain = sample_posterior(evaluator, fit_obs, start, settings.samples, settings.seed,
                                     checkpoint, settings.chunks, progress,
                                     burn=int(settings.samples * settings.burn_fraction))
            fitted = evaluator.at(np.array([fit.x]), obs)[0]
    except PyloopError:
        if checkpoint:  # a failure, not an interruption: the same inputs would fail again
            checkpoint.remove()
        raise
    kept = chain.kept(settings.burn_fraction)
    names = [p.name for p in parameters]
    diagnostics = diagnose(kept, names)
    result = CalibrationResult(
        tuple(parameters), fit, kept, diagnostics, obs, holdout, fitted, base, extends, settings
    )
    result.total_steps = chain.steps
    for name, diag in diagnostics.items():
        if not diag["r_hat"] <= RHAT_LIMIT:
            result.warnings.append(
                f"R-hat of '{name}' is {diag['r_hat']:.3f} (above {RHAT_LIMIT}): the chains have not "
                "mixed; sample longer with --samples"
            )
    if result.acceptance < 0.1:
        result.warnings.append(
            f"acceptance fraction {result.acceptance:.2f} is low: the posterior may be poorly explored"
        )
    return result


def posterior_band(
    model: Any, result: CalibrationResult, variables: Sequence[str], draws: int | None = None,
    workers: int | None = None, dask: str | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The best-fit run and the 5-95 % band of the posterior runs.

    Returns:
        ``(times, fitted, band)``: saved times; per variable the best-fit
        series; per variable an array (2 x times) with the 5th and 95th
        percentiles over ``draws`` posterior draws spread evenly over the
        kept chain.
    """
    flat = result.chain.flat()
    n = min(draws or result.settings.band_draws, len(flat))
    picks = flat[np.linspace(0, len(flat) - 1, n).round().astype(int)]
    values = np.vstack([np.array(result.fit.x)[None, :], picks])
    with Evaluator(model, result.parameters, result.base, workers=workers, dask=dask) as evaluator:
        times, series = evaluator.series(values, variables)
    fitted = {v: s[:, 0] for v, s in series.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        band = {v: np.nanpercentile(s[:, 1:], [5, 95], axis=1) for v, s in series.items()}
    return times, fitted, band
