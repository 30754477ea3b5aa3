"""The documentation says what the code and the model do."""

from __future__ import annotations

import re

import pytest

from circular import REPO


def test_model_doc_lists_every_constant_with_its_value(circular_model):
    rows = {}
    for line in (REPO / "docs" / "model.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] not in ("Constant", "---"):
            rows[cells[0]] = cells[1]
    constants = circular_model.constants
    assert set(rows) == set(constants)
    for name, value in rows.items():
        assert float(value) == pytest.approx(circular_model.defaults[name], rel=1e-9), name


def test_readme_test_command_is_what_ci_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    test_command = next(b for b in blocks if "pytest" in b)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_model_doc_names_every_scenario_and_policy(circular_model):
    import pyloop

    text = (REPO / "docs" / "model.md").read_text(encoding="utf-8")
    sf = pyloop.load_scenarios(circular_model)
    for name in list(sf.scenarios) + list(sf.policies):
        assert f"| {name} |" in text, name
