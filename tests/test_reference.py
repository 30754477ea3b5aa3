"""Fixture models run through pyloop reproduce their reference output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pysd.tools.benchmarking import assert_frames_close

import pyloop
from conftest import FIXTURES

# model file, reference output, relative tolerance (as PySD's integration
# tests: assert_frames_close with rtol=0.05)
CASES = [
    ("teacup/teacup.mdl", "teacup/output.csv", 0.05),
    ("teacup/teacup.xmile", "teacup/output.csv", 0.05),
    ("SIR/SIR.mdl", "SIR/output.csv", 0.05),
    ("SIR/SIR.xmile", "SIR/output.csv", 0.05),
]


@pytest.mark.parametrize(("model_file", "reference", "rtol"), CASES, ids=[c[0] for c in CASES])
def test_matches_reference(model_file, reference, rtol):
    canon = pd.read_csv(FIXTURES / reference, index_col=0)
    model = pyloop.load_model(FIXTURES / model_file)
    names = {c: model.resolve_name(c) for c in canon.columns}
    assert None not in names.values(), names
    result = pyloop.run(model, return_columns=list(names.values()))
    actual = result.frame.rename(columns={v: k for k, v in names.items()})

    assert list(actual.columns) == list(canon.columns)
    assert actual.index.name == "time"
    # the reference rounds times to 6 significant digits (10.03125 -> 10.0312)
    np.testing.assert_allclose(
        actual.index.to_numpy(), canon.index.to_numpy(dtype=float), rtol=1e-5, atol=1e-9
    )
    actual.index = canon.index
    assert_frames_close(actual, canon, rtol=rtol)
