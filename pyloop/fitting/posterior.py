"""The posterior of a calibration: walkers, emcee chain and its diagnostics.

:func:`start_walkers` places emcee's walkers around the best fit,
:func:`sample_posterior` runs emcee's vectorised ensemble sampler (uniform
priors on the ranges; the log-likelihood is ``-payoff / 2``) in checkpointed
pieces, and :func:`diagnose` reports ArviZ's R-hat and effective sample size
of the resulting :class:`Chain`.
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from pyloop.declarations.observations import Observations
from pyloop.fitting.evaluation import Evaluator

if TYPE_CHECKING:
    from pyloop.fitting.checkpoint import Checkpoint

__all__ = ["Chain", "RangeStudentT", "bars_disabled", "diagnose", "sample_posterior", "start_walkers"]


def bars_disabled(progress: bool | None) -> bool | None:
    """tqdm's ``disable``: None hides bars when stderr is not a terminal."""
    return None if progress is None else not progress



def _log_probability(evaluator: Evaluator, obs: Observations) -> Callable[[np.ndarray], np.ndarray]:
    low = np.array([p.low for p in evaluator.parameters])
    high = np.array([p.high for p in evaluator.parameters])

    def log_prob(x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)
        out = np.full(x.shape[0], -np.inf)
        inside = np.all((x >= low) & (x <= high), axis=1)
        if inside.any():
            out[inside] = -0.5 * evaluator.payoff(x[inside], obs)
        return out

    return log_prob


def start_walkers(
    evaluator: Evaluator, obs: Observations, best: Sequence[float], walkers: int, seed: int
) -> np.ndarray:
    """Walker starting points around the best fit (walkers x parameters).

    Drawn from the Gauss-Newton (Laplace) approximation of the posterior at
    the best fit (its Jacobian by forward differences, one population run),
    with each uniform prior counted as a Gaussian of the same variance
    (``width**2 / 12``) so that a constant the observations barely inform
    starts spread over its range instead of in a point; kept inside the
    ranges. A small ball of 0.1 % of each range when the Jacobian is not
    finite.
    """
    best = np.asarray(best, dtype=float)
    low = np.array([p.low for p in evaluator.parameters])
    high = np.array([p.high for p in evaluator.parameters])
    width = high - low
    d = len(best)
    rng = np.random.default_rng(seed)
    h = 1e-4 * width
    steps = np.where(best + h <= high, h, -h)
    points = np.vstack([best, best + np.diag(steps)])
    values = evaluator.at(points, obs)
    scale = np.sqrt(obs.weight) / obs.sd
    jac = ((values[1:] - values[0]) * scale / steps[:, None]).T  # observations x parameters
    cov = None
    if np.all(np.isfinite(jac)):
        try:
            cov = np.linalg.inv(jac.T @ jac + np.diag(12.0 / width**2))
            sd = np.sqrt(np.diag(cov))
            if not np.all(np.isfinite(sd)) or np.any(sd <= 0):
                cov = None
        except np.linalg.LinAlgError:
            cov = None
    if cov is None:
        cov = np.diag((1e-3 * width) ** 2)
    draws = rng.multivariate_normal(best, cov, size=50 * walkers, method="cholesky"
                                    if np.all(np.linalg.eigvalsh(cov) > 0) else "svd")
    inside = draws[np.all((draws > low) & (draws < high), axis=1)][:walkers]
    if len(inside) < walkers:
        ball = best + 1e-3 * width * rng.standard_normal((walkers - len(inside), d))
        inside = np.vstack([inside, np.clip(ball, low + 1e-9 * width, high - 1e-9 * width)])
    return inside


@dataclass
class Chain:
    """Posterior chain (steps x walkers x parameters), log-probabilities
    (steps x walkers) and accepted moves per walker."""

    positions: np.ndarray
    log_prob: np.ndarray
    accepted: np.ndarray

    @property
    def steps(self) -> int:
        return self.positions.shape[0]

    def kept(self, burn_fraction: float) -> "Chain":
        """The chain without its first ``burn_fraction`` of steps."""
        burn = int(self.steps * burn_fraction)
        return Chain(self.positions[burn:], self.log_prob[burn:], self.accepted)

    def flat(self) -> np.ndarray:
        """All draws, step by step (draws x parameters)."""
        return self.positions.reshape(-1, self.positions.shape[-1])


class RangeStudentT:
    """A multivariate Student t in the logit coordinates of the ranges.

    Each constant ``x`` in ``[low, high]`` maps to
    ``u = log((x - low) / (high - x))``, so the density covers the open
    ranges, leans against a bound where the posterior does, and has heavier
    tails than the points it is fitted to (``df`` degrees of freedom, scale
    ``inflate`` times their spread).
    """

    def __init__(self, points: np.ndarray, low: np.ndarray, high: np.ndarray,
                 df: float = 5.0, inflate: float = 1.2):
        self.low, self.width = low, high - low
        u = self._logit(points)[0]
        d = u.shape[1]
        # a ridge keeps the scale positive definite when the points are few or collinear
        cov = np.atleast_2d(np.cov(u.T)) + 1e-6 * np.eye(d)
        self.mean = u.mean(axis=0)
        self.chol = np.linalg.cholesky(inflate**2 * cov)
        self.df, self.d = df, d
        self._log_det = 2.0 * np.log(np.diag(self.chol)).sum()

    def _logit(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.clip((np.atleast_2d(x) - self.low) / self.width, 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p)), p

    def draw(self, n: int, random: np.random.RandomState) -> np.ndarray:
        """``n`` points inside the ranges (n x parameters)."""
        z = random.standard_normal((n, self.d)) @ self.chol.T
        w = random.chisquare(self.df, n) / self.df
        u = self.mean + z / np.sqrt(w)[:, None]
        return self.low + self.width / (1 + np.exp(-u))

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Log-density at ``x`` (in the constants' own units), up to a constant."""
        u, p = self._logit(x)
        y = np.linalg.solve(self.chol, (u - self.mean).T)
        m = (y * y).sum(axis=0)
        log_t = -0.5 * (self.df + self.d) * np.log1p(m / self.df) - 0.5 * self._log_det
        return log_t - np.log(self.width * p * (1 - p)).sum(axis=1)

    def proposal(self, coords: np.ndarray, random: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """emcee's ``MHMove`` proposal: independent draws and the log ratio
        ``log q(x) - log q(x')`` that makes the move a Metropolis-Hastings step."""
        new = self.draw(coords.shape[0], random)
        return new, self.log_density(coords) - self.log_density(new)


#: Share of the independence move among the moves (the rest are DE moves).
INDEPENDENCE_SHARE = 0.8


def _moves(proposal: RangeStudentT | None) -> list:
    """emcee's moves: mostly independence Metropolis-Hastings draws from
    ``proposal`` (nearly independent draws when it resembles the posterior,
    so short autocorrelation times; all walkers in one population run), the
    rest differential-evolution moves (``DEMove``: local steps along the
    ensemble's correlations, which keep exploring wherever the proposal is
    thin). DE moves only when there is no proposal."""
    import emcee

    if proposal is None:
        return [emcee.moves.DEMove()]
    return [(emcee.moves.MHMove(proposal.proposal), INDEPENDENCE_SHARE),
            (emcee.moves.DEMove(), 1 - INDEPENDENCE_SHARE)]


def _fitted_proposal(points: np.ndarray, low: np.ndarray, high: np.ndarray) -> RangeStudentT | None:
    try:
        proposal = RangeStudentT(points.reshape(-1, points.shape[-1]), low, high)
    except np.linalg.LinAlgError:
        return None
    return proposal if np.all(np.isfinite(proposal.chol)) and np.all(np.isfinite(proposal.mean)) else None


def _blocks(steps: int, burn: int, size: int) -> list[tuple[int, int]]:
    """Pieces of the chain: ``size`` steps each, with a boundary at ``burn``."""
    edges = sorted(set(range(0, steps, size)) | {min(burn, steps), steps})
    return list(zip(edges[:-1], edges[1:]))


def sample_posterior(
    evaluator: Evaluator, obs: Observations, start: np.ndarray, steps: int, seed: int,
    checkpoint: "Checkpoint | None" = None, chunks: int = 10, progress: bool | None = None,
    burn: int | None = None,
) -> Chain:
    """Sample the posterior with ``emcee.EnsembleSampler(vectorize=True)``.

    The chain runs in ``chunks`` pieces (with a boundary at step ``burn``,
    default half the steps). The independence proposal adapts during the
    burn-in: each piece draws from a :class:`RangeStudentT` fitted to the
    walkers' positions in the piece before (to the starting points in the
    first). From ``burn`` on it is fixed, fitted to the second half of the
    burn-in, so the kept steps are a Markov chain with the posterior as
    its stationary distribution. After each piece, ``checkpoint`` (if
    given) saves the chain so far and the sampler's random state, and a
    chain found there is continued, giving the same draws as an
    uninterrupted run (the proposals are refitted from the saved chain).
    """
    import emcee
    from tqdm import tqdm

    walkers, d = start.shape
    burn = steps // 2 if burn is None else burn
    low = np.array([p.low for p in evaluator.parameters])
    high = np.array([p.high for p in evaluator.parameters])
    log_prob = _log_probability(evaluator, obs)
    done = checkpoint.load_chain() if checkpoint else None
    if done is None:
        done = Chain(np.empty((0, walkers, d)), np.empty((0, walkers)), np.zeros(walkers))
        state = emcee.State(start, random_state=np.random.RandomState(seed).get_state())
    else:
        done, state = done
    size = max(1, math.ceil(steps / max(chunks, 1)))
    bar = tqdm(total=steps, initial=done.steps, desc="posterior (steps)", file=sys.stderr,
               disable=bars_disabled(progress), leave=False)
    try:
        previous = start[None]
        for first, last in _blocks(steps, burn, size):
            if last <= done.steps:
                previous = done.positions[first:last]
                continue
            if first >= burn > 0:
                points = done.positions[burn // 2:burn]
            else:
                points = previous
            sampler = emcee.EnsembleSampler(walkers, d, log_prob, vectorize=True,
                                            moves=_moves(_fitted_proposal(points, low, high)))
            for state in sampler.sample(state, iterations=last - first):
                bar.update(1)
            done = Chain(
                np.concatenate([done.positions, sampler.get_chain()]),
                np.concatenate([done.log_prob, sampler.get_log_prob()]),
                done.accepted + sampler.backend.accepted,
            )
            previous = done.positions[first:last]
            if checkpoint:
                checkpoint.save_chain(done, state)
    finally:
        bar.close()
    return done


def diagnose(chain: Chain, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """R-hat (rank-normalised, split) and bulk effective sample size of each
    parameter, treating every walker as a chain (ArviZ)."""
    data = {n: np.ascontiguousarray(chain.positions[:, :, j].T) for j, n in enumerate(names)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ announces its refactor on import
        import arviz as az

        dataset = az.convert_to_dataset(data)
        rhat = az.rhat(dataset)
        ess = az.ess(dataset)
    return {n: {"r_hat": float(rhat[n]), "ess": float(ess[n])} for n in names}
