"""Every command on every model of the SDXorg test-models suite.

The suite (a copy in ``tests/fixtures/sdxorg-test-models``, MIT licence)
holds small models, each exercising one feature of the modelling languages.
The sweep covers every Vensim ``.mdl`` file and, in the folders without
one, the XMILE ``.xmile`` files.

- Whatever raw PySD runs (``pysd.read_vensim(...).run()`` on a copy of the
  model's folder in a temporary directory), ``pyloop run --model`` runs too,
  and its CSV equals PySD's output (same column names, same values to 1e-9),
  except for the models of :data:`PYLOOP_DIFFERS`, each with the reason.
- What PySD cannot run is listed in :data:`PYSD_FAILS` with PySD's own error;
  a test checks that PySD still fails that way, so the list stays honest.
- ``pyloop loops``, ``check --profile generic`` and ``sensitivity`` on every
  model but the few slow ones of :data:`SLOW`, and ``report`` on a sample,
  either work or end with one line ``pyloop: error: ...`` and exit status 2
  (``check`` exits 1 when it finds an error in the model); never a traceback.

Each model is translated once per session by PySD (into a temporary folder)
and once by pyloop (into the session's cache).
"""

from __future__ import annotations

import re
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import TESTS
from pyloop.cli import main
from pyloop.errors import normalize_name

SUITE = TESTS / "fixtures" / "sdxorg-test-models"


def _models() -> list[str]:
    """Paths (relative to the suite) of the models of the sweep."""
    vensim = sorted(p for p in SUITE.rglob("*") if p.suffix.lower() == ".mdl")
    with_vensim = {p.parent for p in vensim}
    xmile = sorted(p for p in SUITE.rglob("*.xmile") if p.parent not in with_vensim)
    return [p.relative_to(SUITE).as_posix() for p in vensim + xmile]


MODELS = _models()

#: Models PySD itself cannot run: model -> (exception type, part of its message).
PYSD_FAILS = {
    "samples/bpowers-hares_and_lynxes_modules/model.xmile": ("ParseError", "didn't match"),
    "tests/data_from_other_model/model_to_generate_data.mdl": ("ValueError", "could not broadcast"),
    "tests/data_from_other_model/test_data_from_other_model.mdl": ("ValueError", "var_0dim"),
    "tests/get_constants/test_get_constants.mdl": ("FileNotFoundError", "_ext_constant_direct_constants"),
    "tests/get_data/test_get_data.mdl": ("FileNotFoundError", "_ext_data_xls_data_across"),
    "tests/get_time_value/test_get_time_value.mdl": ("NotImplementedError", "relativeto=1"),
}

#: Models PySD runs where ``pyloop run`` deliberately or knowingly differs:
#: model -> (how, detail). ``refuses``: exit status 2 and one line matching
#: ``detail``; ``random``: two PySD runs
#: already differ, so there is nothing to compare to; ``renames``: the same
#: values, but some columns named differently.
PYLOOP_DIFFERS = {
    "tests/na/test_na.mdl": ("refuses", "became NaN"),
    "tests/smaller_range/test_smaller_range.mdl": ("refuses", "became NaN"),
    "tests/get_constants_incomplete_subscript/test_get_constants_incomplete_subscript.mdl": (
        "refuses", "became NaN"),
    "tests/partial_range_definitions/test_partial_range_definitions.mdl": ("refuses", "became NaN"),
    "tests/get_subscript_3d_arrays_xls/test_get_subscript_3d_arrays_xls.mdl": (
        "refuses", "cannot translate model file .*Hardcoded external subscript"),
    # SAVEPER 0.1 is no multiple of TIME STEP 0.0078125: PySD saves only every 0.5
    "samples/pendulum/Single_Pendulum.mdl": ("refuses", "SAVEPER 0.1 .* is not a whole multiple of TIME STEP"),
    "samples/Query_file/Query_file.mdl": ("random", "RANDOM UNIFORM"),
    "tests/special_characters/test_special_variable_names.mdl": (
        "renames",
        ("model text is neutralised before translation: a backslash in a name becomes '/', "
         "a single quote '\u2019'"),
    ),
}

#: Models the report is tried on: plain, subscripted, lookups, delays, XMILE,
#: data files (which the unit checker cannot read), an empty view, time
#: settings that change with time, a NaN, a model PySD cannot run.
REPORT_SAMPLE = [
    "samples/teacup/teacup.mdl",
    "samples/SIR/SIR.mdl",
    "tests/subscript_2d_arrays/test_subscript_2d_arrays.mdl",
    "tests/lookups/test_lookups.mdl",
    "tests/delay_pipeline/test_pipeline_delays.mdl",
    "tests/get_xls_cellrange/test_get_xls_cellrange.mdl",
    "tests/delay_xmile/test_delay_xmile.xmile",
    "tests/subscript_mapping_vensim/test_subscript_mapping_vensim.mdl",
    "tests/control_vars/test_control_vars.mdl",
    "tests/na/test_na.mdl",
    "tests/get_time_value/test_get_time_value.mdl",
]

#: Models whose single run takes seconds: covered by the run test only, since
#: ``check`` alone runs them three times (once at half the time step).
SLOW = {
    "samples/Population/Subscripted Population Model.mdl",
    "samples/Workforce/workforce.mdl",
    "tests/allocate_available/test_allocate_available.mdl",
    "tests/allocate_by_priority/test_allocate_by_priority.mdl",
    "tests/arithmetics/test_arithmetics.mdl",
    "tests/arithmetics_exp/test_arithmetics_exp.mdl",
    "tests/forecast/test_forecast.mdl",
    "tests/get_lookups_subscripted_args/test_get_lookups_subscripted_args.mdl",
    "tests/get_time_value/test_get_time_value_simple.mdl",
    "tests/subscripted_delays/test_subscripted_delays.mdl",
    "tests/subscripted_round/test_subscripted_round.mdl",
    "tests/subscripted_smooth/test_subscripted_smooth.mdl",
    "tests/vector_order/test_vector_order.mdl",
}

#: The time settings: PySD returns them as columns, pyloop does not.
TIME_SETTINGS = {"initial time", "final time", "time step", "saveper"}

RUNS_THE_SAME = [m for m in MODELS if m not in PYSD_FAILS and m not in PYLOOP_DIFFERS]


@pytest.fixture(scope="session")
def raw_pysd(tmp_path_factory):
    """Raw PySD on a model of the suite, once per session: the model's folder
    is copied into a temporary directory, translated and run there.

    Returns a function ``rel -> (pysd model or None, output frame or the
    exception PySD raised)``.
    """
    import pysd

    done = {}

    def get(rel: str):
        if rel not in done:
            source = SUITE / rel
            folder = tmp_path_factory.mktemp("pysd") / source.parent.name
            shutil.copytree(source.parent, folder)
            read = pysd.read_vensim if source.suffix.lower() == ".mdl" else pysd.read_xmile
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = read(str(folder / source.name))
                    done[rel] = (model, model.run())
            except Exception as exc:  # PySD raises every kind; the tables name them
                done[rel] = (None, exc)
        return done[rel]

    return get


def _cli(capsys, argv):
    """Run the command in-process: (exit status, stdout, stderr)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _ends_cleanly(code, err, allowed=(0, 2)):
    """Exit status allowed, and a failure is exactly one ``pyloop: error:`` line."""
    assert code in allowed
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("pyloop: error: ")]
    assert len(errors) == (1 if code == 2 else 0), err


def test_the_sweep_covers_the_suite():
    assert len(MODELS) > 150
    assert set(PYSD_FAILS) <= set(MODELS)
    assert set(PYLOOP_DIFFERS) <= set(MODELS)
    assert set(REPORT_SAMPLE) <= set(MODELS)
    assert SLOW <= set(MODELS)


@pytest.mark.parametrize("rel", sorted(PYSD_FAILS))
def test_pysd_still_fails_on(rel, raw_pysd):
    kind, message = PYSD_FAILS[rel]
    _, error = raw_pysd(rel)
    assert isinstance(error, Exception), f"PySD now runs {rel}: move it out of PYSD_FAILS"
    assert type(error).__name__ == kind
    assert message in str(error)


@pytest.mark.parametrize("rel", RUNS_THE_SAME)
def test_run_equals_pysd(rel, raw_pysd, tmp_path, capsys):
    _, expected = raw_pysd(rel)
    assert isinstance(expected, pd.DataFrame), f"PySD fails on {rel}: {expected!r}"
    code, _, err = _cli(capsys, ["run", "--model", str(SUITE / rel), "--out", str(tmp_path)])
    assert code == 0, err
    (csv,) = tmp_path.glob("*.csv")
    got = pd.read_csv(csv, index_col="time")
    extra = set(got.columns) - set(expected.columns)
    assert not extra, f"columns PySD does not name so: {sorted(extra)[:5]}"
    left_out = {normalize_name(c) for c in set(expected.columns) - set(got.columns)}
    assert left_out <= TIME_SETTINGS
    np.testing.assert_allclose(got.index.to_numpy(float), expected.index.to_numpy(float), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        got.to_numpy(float), expected[list(got.columns)].to_numpy(float), rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("rel", sorted(PYLOOP_DIFFERS))
def test_run_differs_from_pysd_only_as_listed(rel, raw_pysd, tmp_path, capsys):
    how, detail = PYLOOP_DIFFERS[rel]
    model, expected = raw_pysd(rel)
    assert isinstance(expected, pd.DataFrame), f"PySD fails on {rel}: {expected!r}"
    out_dir = tmp_path / "out"
    code, _, err = _cli(capsys, ["run", "--model", str(SUITE / rel), "--out", str(out_dir)])
    if how == "refuses":
        _ends_cleanly(code, err, allowed=(2,))
        assert re.search(detail, err), err
        assert not out_dir.exists()
        return
    assert code == 0, err
    got = pd.read_csv(next(out_dir.glob("*.csv")), index_col="time")
    if how == "renames":
        named = [c for c in expected.columns if normalize_name(c) not in TIME_SETTINGS]
        renamed = {c: c.replace("\\", "/").replace("'", "\u2019") for c in named}
        assert set(got.columns) != set(named) and set(got.columns) == set(renamed.values())
        np.testing.assert_allclose(
            got[[renamed[c] for c in named]].to_numpy(float), expected[named].to_numpy(float), rtol=1e-9, atol=1e-9
        )
    else:  # random: PySD's own second run differs from its first
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = model.run()
        assert not np.allclose(again.to_numpy(float), expected.to_numpy(float), equal_nan=True)


@pytest.mark.parametrize("command", ["loops", "check", "sensitivity"])
@pytest.mark.parametrize("rel", [m for m in MODELS if m not in SLOW])
def test_command_works_or_says_why(rel, command, tmp_path, capsys):
    argv = {
        "loops": ["loops"],
        "check": ["check", "--profile", "generic"],
        "sensitivity": ["sensitivity", "--samples", "8", "--out", str(tmp_path / "s")],
    }[command]
    code, _, err = _cli(capsys, [*argv, "--model", str(SUITE / rel)])
    # check exits 1 when it finds an error in the model: a result, not a failure
    _ends_cleanly(code, err, allowed=(0, 1, 2) if command == "check" else (0, 2))


@pytest.mark.parametrize("rel", REPORT_SAMPLE)
def test_report_works_or_says_why(rel, tmp_path, capsys):
    out_dir = tmp_path / "report"
    code, _, err = _cli(capsys, ["report", "--quick", "--model", str(SUITE / rel), "--out", str(out_dir)])
    _ends_cleanly(code, err)
    assert (out_dir / "report.html").is_file() == (code == 0)
