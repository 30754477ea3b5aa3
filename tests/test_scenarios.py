"""Reading and validating scenario files (pyloop.declarations.scenarios)."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pyloop
from pyloop.errors import ParameterError, ScenarioError
from pyloop.declarations.scenarios import ScenarioFile, Scenario, read_scenario_file, scenario_path
from conftest import MODELS


def write(tmp_path, text, name="m.scenarios.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_scenario_path_is_beside_the_model():
    assert scenario_path("models/x.mdl").as_posix() == "models/x.scenarios.toml"
    assert scenario_path("a/SIR.xmile").name == "SIR.scenarios.toml"


def test_reads_the_cooling_file():
    sf = pyloop.load_scenarios(MODELS / "cooling.mdl")
    assert sf.key_variables == ("Teacup Temperature", "Heat Loss to Room")
    assert list(sf.scenarios) == ["baseline", "fast_cooling", "warm_room"]
    warm = sf.scenario("warm_room")
    assert warm == Scenario(
        name="warm_room",
        description="A thin cup in a warm room.",
        extends="fast_cooling",
        constants={"Room Temperature": 80},
    )
    assert sf.chain("warm_room") == ["baseline", "fast_cooling", "warm_room"]
    assert sf.resolve("warm_room") == {"Characteristic Time": 5, "Room Temperature": 80}
    assert sf.policy("lid").constants == {"Characteristic Time": 20}
    assert [s.name for s in pyloop.list_scenarios(MODELS / "cooling.mdl")] == list(sf.scenarios)
    assert [p.name for p in pyloop.list_policies(MODELS / "cooling.mdl")] == ["lid"]


def test_frozen():
    sf = pyloop.load_scenarios(MODELS / "cooling.mdl")
    with pytest.raises(AttributeError):
        sf.scenarios["baseline"].description = "x"
    with pytest.raises(TypeError):
        sf.scenarios["baseline"].constants["x"] = 1


def test_absent_file_means_no_scenarios(cooling_copy):
    sf = pyloop.load_scenarios(cooling_copy)
    assert sf.path is None and not sf.scenarios and not sf.policies
    with pytest.raises(ScenarioError, match="unknown scenario 'baseline' .*no scenario file"):
        sf.scenario("baseline")


def test_child_overrides_parent(tmp_path):
    sf = read_scenario_file(write(tmp_path, """
        [scenarios.a.constants]
        x = 1
        y = 2
        [scenarios.b]
        extends = "a"
        [scenarios.b.constants]
        y = 3.5
    """))
    assert sf.resolve("b") == {"x": 1, "y": 3.5}
    assert sf.resolve("a") == {"x": 1, "y": 2}


def test_extends_cycle_is_named(tmp_path):
    path = write(tmp_path, """
        [scenarios.a]
        extends = "b"
        [scenarios.b]
        extends = "a"
    """)
    with pytest.raises(ScenarioError, match=r"cycle: a -> b -> a; remove one 'extends'"):
        read_scenario_file(path)


def test_self_extension_is_a_cycle(tmp_path):
    path = write(tmp_path, '[scenarios.a]\nextends = "a"\n')
    with pytest.raises(ScenarioError, match=r"cycle: a -> a"):
        read_scenario_file(path)


def test_unknown_parent(tmp_path):
    path = write(tmp_path, """
        [scenarios.baseline]
        [scenarios.shock]
        extends = "baseline2"
    """)
    with pytest.raises(
        ScenarioError,
        match=r"scenario 'shock' in 'm\.scenarios\.toml' extends unknown scenario 'baseline2'; "
        r"did you mean 'baseline'\?",
    ):
        read_scenario_file(path)


@pytest.mark.parametrize(
    ("text", "key", "where"),
    [
        ("[scenario.a]\n", "scenario", "the top level"),
        ("[meta]\nkey_vars = []\n", "key_vars", r"\[meta\]"),
        ('[scenarios.a]\ndescripton = "x"\n', "descripton", r"\[scenarios\.a\]"),
        ('[policies.p]\nextends = "x"\n', "extends", r"\[policies\.p\]"),
    ],
)
def test_unknown_keys_are_named(tmp_path, text, key, where):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError, match=rf"unknown key '{key}' in {where} of 'm\.scenarios\.toml'"):
        read_scenario_file(path)


@pytest.mark.parametrize(
    ("value", "type_name"), [("true", "bool"), ('"10"', "str"), ("[1, 2]", "list")]
)
def test_values_must_be_numbers(tmp_path, value, type_name):
    path = write(tmp_path, f'[scenarios.hot.constants]\n"Room Temperature" = {value}\n')
    with pytest.raises(
        ParameterError,
        match=rf"constant 'Room Temperature' in scenario 'hot' must be a number, not {type_name}",
    ):
        read_scenario_file(path)


def test_policy_values_must_be_numbers(tmp_path):
    path = write(tmp_path, '[policies.lid.constants]\n"Characteristic Time" = "long"\n')
    with pytest.raises(ParameterError, match=r"'Characteristic Time' in policy 'lid' must be a number, not str"):
        read_scenario_file(path)


def test_bad_toml_is_reported(tmp_path):
    path = write(tmp_path, "[scenarios.a\n")
    with pytest.raises(ScenarioError, match=r"cannot read scenario file 'm\.scenarios\.toml'"):
        read_scenario_file(path)


def test_names_must_be_simple(tmp_path):
    path = write(tmp_path, '[scenarios."a+b"]\n')
    with pytest.raises(ScenarioError, match=r"scenario name 'a\+b' .* may use only letters"):
        read_scenario_file(path)


@given(
    st.lists(
        st.dictionaries(st.sampled_from("abcdef"), st.integers(-1000, 1000), max_size=4),
        min_size=1,
        max_size=5,
    )
)
def test_resolution_equals_merging_root_to_leaf(layers):
    scenarios = {}
    for i, constants in enumerate(layers):
        scenarios[f"s{i}"] = Scenario(f"s{i}", "", f"s{i - 1}" if i else None, constants)
    sf = ScenarioFile(path=None, scenarios=scenarios)
    expected = {}
    for constants in layers:
        expected.update(constants)
    assert sf.resolve(f"s{len(layers) - 1}") == expected
