"""Shared fixtures. Every test translates into a temporary cache, never into
the source tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures" / "test-models"
MODELS = TESTS / "models"


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    """Point the translation cache at a session-wide temporary directory."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("pyloop-cache")
    mp.setenv("PYLOOP_CACHE_DIR", str(cache))
    yield cache
    mp.undo()


@pytest.fixture(scope="session")
def cooling_model():
    """The cooling-tea test model (ranges on its constants, a scenario file)."""
    import pyloop

    return pyloop.load_model(MODELS / "cooling.mdl")


@pytest.fixture
def cooling_copy(tmp_path):
    """A private copy of cooling.mdl (without its scenario file) in tmp_path."""
    target = tmp_path / "cooling.mdl"
    shutil.copyfile(MODELS / "cooling.mdl", target)
    return target


@pytest.fixture(scope="session")
def circular_model():
    """The AI circular-finance model of the repository."""
    import pyloop
    from circular import MODEL_PATH

    return pyloop.load_model(MODEL_PATH)


@pytest.fixture(scope="session")
def circular_run(circular_model):
    """Run the circular-finance model once per (scenario, policy, params)."""
    import pyloop

    done = {}

    def get(scenario="baseline", policy=None, **params):
        key = (scenario, policy, tuple(sorted(params.items())))
        if key not in done:
            done[key] = pyloop.run(circular_model, scenario, policy, params or None)
        return done[key]

    return get
