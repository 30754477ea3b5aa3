"""Atomic checkpoints of a calibration, so that an interrupted one resumes
to the same result."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from pyloop.errors import PyloopError
from pyloop.fitting.evaluation import FitParameter
from pyloop.declarations.observations import Observations

if TYPE_CHECKING:
    from pyloop.fitting.calibrate import CalibrationSettings, DEResult
    from pyloop.fitting.posterior import Chain

__all__ = ["Checkpoint", "fingerprint"]


def fingerprint(model: Any, obs: Observations, parameters: Sequence[FitParameter],
                base: Mapping[str, float], settings: CalibrationSettings) -> str:
    """A hash of everything that determines a calibration's result."""
    digest = hashlib.sha256()
    digest.update(Path(model.path).read_bytes())
    for array in (obs.time, obs.value, obs.sd, obs.weight):
        digest.update(np.ascontiguousarray(array, dtype=float).tobytes())
    digest.update(json.dumps([list(obs.variable), [asdict(p) for p in parameters], dict(base),
                              asdict(settings)], sort_keys=True).encode())
    return digest.hexdigest()


class Checkpoint:
    """Atomic checkpoints of a calibration in a hidden folder beside its output.

    Holds the global fit (JSON) and the chain so far with the sampler's
    random state (NumPy ``.npz``); every file is written to a temporary name
    and renamed, so an interruption leaves the previous checkpoint whole.
    ``fingerprint`` identifies the problem (model, data, parameters,
    settings): a checkpoint of another problem is not resumed.
    """

    def __init__(self, folder: Path, fingerprint: str):
        self.folder = Path(folder)
        self.fingerprint = fingerprint

    def _write(self, name: str, write: Callable[[Path], None]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.tmp"
        write(tmp)
        os.replace(tmp, self.folder / name)

    def exists(self) -> bool:
        return (self.folder / "problem.json").is_file()

    def check(self) -> None:
        """Raise unless the checkpoint belongs to this problem."""
        try:
            saved = json.loads((self.folder / "problem.json").read_text())["fingerprint"]
        except (OSError, ValueError, KeyError):
            saved = None
        if saved != self.fingerprint:
            raise PyloopError(
                f"the interrupted calibration in '{self.folder.name}' used another model, data, "
                "parameters or settings; run again without --resume to start over"
            )

    def start(self) -> None:
        """Begin a new checkpoint, dropping one left by an earlier calibration."""
        self.remove()
        self._write("problem.json", lambda p: p.write_text(json.dumps({"fingerprint": self.fingerprint})))

    def remove(self) -> None:
        """Delete the checkpoint files (only those a calibration writes)."""
        for name in ("problem.json", "global_fit.json", "chain.npz"):
            (self.folder / name).unlink(missing_ok=True)
        for tmp in self.folder.glob(".*.tmp") if self.folder.is_dir() else ():
            tmp.unlink(missing_ok=True)
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()

    def save_fit(self, fit: DEResult) -> None:
        self._write("global_fit.json", lambda p: p.write_text(json.dumps(asdict(fit))))

    def load_fit(self) -> DEResult | None:
        path = self.folder / "global_fit.json"
        if not path.is_file():
            return None
        from pyloop.fitting.calibrate import DEResult

        data = json.loads(path.read_text())
        return DEResult(tuple(data["x"]), data["payoff"], data["evaluations"], data["generations"], data["message"])

    def save_chain(self, chain: Chain, state: Any) -> None:
        kind, keys, pos, has_gauss, cached = state.random_state

        def write(path: Path) -> None:
            with open(path, "wb") as handle:
                np.savez(
                    handle, positions=chain.positions, log_prob=chain.log_prob, accepted=chain.accepted,
                    coords=state.coords, state_log_prob=state.log_prob, keys=keys,
                    rng=np.array([pos, has_gauss], dtype=np.int64), cached=np.array([cached]),
                )

        self._write("chain.npz", write)

    def load_chain(self) -> tuple[Chain, Any] | None:
        path = self.folder / "chain.npz"
        if not path.is_file():
            return None
        import emcee

        from pyloop.fitting.posterior import Chain

        with np.load(path) as data:
            chain = Chain(data["positions"], data["log_prob"], data["accepted"])
            rng = ("MT19937", data["keys"], int(data["rng"][0]), int(data["rng"][1]), float(data["cached"][0]))
            state = emcee.State(data["coords"], log_prob=data["state_log_prob"], random_state=rng)
        return chain, state
