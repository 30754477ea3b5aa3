"""Model files are untrusted input; the translation cache checks itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import pyloop
from pyloop import cli
from pyloop.engine.cache import MANIFEST_NAME, CacheWarning, entry_key, file_digest
from pyloop.engine.codecheck import check_translation
from pyloop.errors import ModelFileError
from conftest import FIXTURES, MODELS

COOLING = MODELS / "cooling.mdl"
FLOW_COMMENT = "Rate at which the tea loses temperature to the room."


def _payload(marker: Path, quote: str = '"') -> str:
    """Text that becomes code if copied unescaped into a docstring or string."""
    q3 = quote * 3
    return (
        f"x{q3} + str(__import__({quote}os{quote}).system({quote}touch {marker}{quote})) + {q3}"
    )


def _cooling_with(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = COOLING.read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh, empty cache folder for one test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("PYLOOP_CACHE_DIR", str(folder))
    return folder


# ------------------------------------------------------ model text is not code
def test_comment_exploit_executes_nothing_and_comment_is_kept(tmp_path, cache):
    marker = tmp_path / "owned.txt"
    evil = _cooling_with(tmp_path, "evil.mdl", FLOW_COMMENT, _payload(marker))
    model = pyloop.load_model(evil)
    frame = model.simulate()
    assert not marker.exists()
    assert model.variable("Heat Loss to Room").comment == _payload(marker)
    # the model still computes what the clean model computes
    assert frame.equals(pyloop.load_model(COOLING).simulate())


def test_comment_exploit_through_the_command_line(tmp_path, cache, capsys):
    marker = tmp_path / "owned.txt"
    evil = _cooling_with(tmp_path, "evil.mdl", FLOW_COMMENT, _payload(marker))
    out = tmp_path / "out"
    assert cli.main(["run", "--model", str(evil), "--out", str(out)]) == 0
    assert not marker.exists()
    assert (out / "evil.csv").read_text().count("\n") > 200


@pytest.mark.parametrize("quote", ['"', "'"])
def test_units_exploit_executes_nothing_and_units_are_kept(tmp_path, cache, quote):
    marker = tmp_path / "owned.txt"
    units = "Degrees" + _payload(marker, quote)
    evil = _cooling_with(tmp_path, "evil.mdl", "Degrees Fahrenheit/Minute", units)
    model = pyloop.load_model(evil)
    model.simulate()
    assert not marker.exists()
    assert model.variable("Heat Loss to Room").units == units


def test_name_exploit_executes_nothing(tmp_path, cache):
    marker = tmp_path / "owned.txt"
    name = '"Heat \\" + str(__import__(\\"os\\").system(\\"touch ' + str(marker) + '\\")) + \\" Loss"'
    evil = tmp_path / "evil.mdl"
    evil.write_text(COOLING.read_text().replace("Heat Loss to Room", name))
    model = pyloop.load_model(evil)
    frame = model.simulate()
    assert not marker.exists()
    # the name keeps a harmless spelling, and its spelling in the file still finds it
    flow = model.resolve_name(name)
    assert flow is not None and flow in frame.columns
    assert model.variable(name).comment == FLOW_COMMENT
    assert set(model.equations) == {v.name for v in model.variables}


def test_quoted_vensim_names_keep_their_spelling(tmp_path, cache):
    path = tmp_path / "quoted.mdl"
    path.write_text(COOLING.read_text().replace("Room Temperature", '"Room-Temperature"'))
    model = pyloop.load_model(path)
    frame = model.simulate({'"Room-Temperature"': 60})
    assert model.variable('"Room-Temperature"').kind == "constant"
    assert (frame['"Room-Temperature"'] == 60).all()


def test_lookup_comment_exploit_executes_nothing(tmp_path, cache):
    marker = tmp_path / "owned.txt"
    text = COOLING.read_text().replace("Room Temperature=\n\t70", "Room Temperature=\n\tRoom Table(5)")
    text += (
        "\nRoom Table(\n\t[(0,0)-(10,100)],(0,70),(10,70))\n\t~\tDegrees Fahrenheit\n\t~\t"
        + _payload(marker)
        + "\n\t|\n"
    )
    evil = tmp_path / "evil.mdl"
    evil.write_text(text)
    model = pyloop.load_model(evil)
    frame = model.simulate()
    assert not marker.exists()
    assert model.variable("Room Table").comment == _payload(marker)
    assert (frame["Room Temperature"] == 70).all()


def test_xmile_doc_exploit_executes_nothing(tmp_path, cache):
    marker = tmp_path / "owned.txt"
    source = (FIXTURES / "teacup" / "teacup.xmile").read_text()
    doc = _payload(marker)
    assert "<doc>Heat Loss to Room</doc>" in source
    evil = tmp_path / "evil.xmile"
    evil.write_text(source.replace("<doc>Heat Loss to Room</doc>", f"<doc>{doc}</doc>"))
    model = pyloop.load_model(evil)
    model.simulate()
    assert not marker.exists()
    assert model.variable("Heat Loss to Room").comment == doc


def test_code_in_a_translation_is_refused(cache):
    model = pyloop.load_model(COOLING)
    clean = model.translation.read_text()
    check_translation(clean, "cooling.mdl")  # what PySD writes passes
    for code in (
        'x = __import__("os").system("id")',
        "import subprocess",
        'Path("x").write_text("y")',
        "y = eval('1')",
        "z = ().__class__.__bases__",
        "def f():\n    return open('x')",
    ):
        with pytest.raises(ModelFileError, match=r"refusing model file 'cooling\.mdl': .*PySD does not generate"):
            check_translation(clean + "\n" + code + "\n", "cooling.mdl")


def test_code_planted_in_a_cache_entry_with_a_matching_manifest_is_refused(tmp_path, cache):
    marker = tmp_path / "owned.txt"
    entry = pyloop.load_model(COOLING).cache_dir
    module = entry / "model.py"
    module.write_text(module.read_text() + f'\n_x = __import__("os").system("touch {marker}")\n')
    manifest = json.loads((entry / MANIFEST_NAME).read_text())
    manifest["files"]["model.py"] = file_digest(module)
    (entry / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match=r"refusing model file 'cooling\.mdl': its translation contains .*PySD does not generate"):
        pyloop.load_model(COOLING)
    assert not marker.exists()


# --------------------------------------------------------------- file limits
def test_binary_model_file_is_refused_in_one_line(tmp_path, cache, capsys):
    path = tmp_path / "binary.mdl"
    path.write_bytes(COOLING.read_bytes()[:100] + b"\x00\x01\x02" * 50)
    out = tmp_path / "out"
    assert cli.main(["run", "--model", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"pyloop: error: model file 'binary\.mdl' is not a text file .*\n", err)
    assert not out.exists()
    assert not cache.exists() or not any(cache.iterdir())


def test_undecodable_utf8_model_is_refused(tmp_path, cache):
    path = tmp_path / "latin.mdl"
    path.write_bytes(COOLING.read_bytes().replace(b"Temperature of the tea.", b"Temp\xe9rature"))
    with pytest.raises(ModelFileError, match=r"'latin\.mdl' is not valid UTF-8"):
        pyloop.load_model(path)


def test_model_file_over_the_size_limit_is_refused(tmp_path, cache, monkeypatch):
    path = _cooling_with(tmp_path, "long.mdl", FLOW_COMMENT, "y" * 3000)
    monkeypatch.setenv("PYLOOP_MAX_MODEL_MB", "0.002")
    with pytest.raises(ModelFileError, match=r"'long\.mdl' is larger than 0\.002 MB; set PYLOOP_MAX_MODEL_MB"):
        pyloop.load_model(path)
    monkeypatch.setenv("PYLOOP_MAX_MODEL_MB", "1")
    assert pyloop.load_model(path).variable("Heat Loss to Room").comment == "y" * 3000


@pytest.mark.parametrize("value", ["lots", "0", "-3"])
def test_bad_size_limit_is_reported(cooling_copy, cache, monkeypatch, value):
    monkeypatch.setenv("PYLOOP_MAX_MODEL_MB", value)
    with pytest.raises(ModelFileError, match=rf"PYLOOP_MAX_MODEL_MB must be a positive number .*'{value}'"):
        pyloop.load_model(cooling_copy)


def test_xmile_with_entities_is_refused(tmp_path, cache):
    source = (FIXTURES / "teacup" / "teacup.xmile").read_text()
    evil = tmp_path / "entity.xmile"
    evil.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
        + source.split("?>", 1)[1]
    )
    with pytest.raises(ModelFileError, match=r"'entity\.xmile' declares a document type"):
        pyloop.load_model(evil)


# ------------------------------------------------------------ cache: owner, mode
def test_cache_root_is_created_private(cache, cooling_copy):
    pyloop.load_model(cooling_copy)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700


def test_cache_root_writable_by_others_is_refused(cache, cooling_copy):
    cache.mkdir()
    cache.chmod(0o777)
    with pytest.raises(ModelFileError, match=r"refusing the translation cache .*writable by group or others"):
        pyloop.load_model(cooling_copy)
    assert list(cache.iterdir()) == []


def test_entry_writable_by_others_is_translated_again(cache, cooling_copy):
    first = pyloop.load_model(cooling_copy)
    first.cache_dir.chmod(0o777)
    with pytest.warns(CacheWarning, match="writable by group or others"):
        again = pyloop.load_model(cooling_copy)
    assert again.translated
    assert stat.S_IMODE(again.cache_dir.stat().st_mode) & 0o022 == 0
    assert not pyloop.load_model(cooling_copy).translated


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_entry_planted_by_another_user_is_not_imported(tmp_path, cache, cooling_copy):
    marker = tmp_path / "owned.txt"
    entry = pyloop.load_model(cooling_copy).cache_dir
    module = entry / "model.py"
    module.write_text(module.read_text().replace("return 70", f'return __import__("os").system("touch {marker}") or 70'))
    manifest = json.loads((entry / MANIFEST_NAME).read_text())
    manifest["files"]["model.py"] = file_digest(module)
    (entry / MANIFEST_NAME).write_text(json.dumps(manifest))
    for path in (entry, module, entry / MANIFEST_NAME):
        os.chown(path, 4242, 4242)
    with pytest.warns(CacheWarning, match=r"owned by another user \(uid 4242\)"):
        model = pyloop.load_model(cooling_copy)
    model.simulate()
    assert not marker.exists()
    assert model.translated and model.cache_dir.stat().st_uid == os.geteuid()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_compiled_copies_planted_by_another_user_are_removed(cache, cooling_copy):
    entry = pyloop.load_model(cooling_copy).cache_dir
    pycache = entry / "__pycache__"
    pycache.mkdir(exist_ok=True)
    planted = pycache / "model.cpython-311.pyc"
    planted.write_bytes(b"not what Python wrote")
    os.chown(planted, 4242, 4242)
    model = pyloop.load_model(cooling_copy)
    assert not model.translated
    assert not planted.exists()
    assert model.defaults["Room Temperature"] == 70


# ------------------------------------------------------ cache: content checks
def test_edited_cache_file_is_detected_and_translated_again(cache, cooling_copy):
    first = pyloop.load_model(cooling_copy)
    module = first.translation
    assert module.read_text().count("return 70") == 1
    module.write_text(module.read_text().replace("return 70", "return 400"))
    with pytest.warns(CacheWarning, match="does not match its recorded SHA-256"):
        again = pyloop.load_model(cooling_copy)
    assert again.translated
    assert again.defaults["Room Temperature"] == 70


def test_command_line_reports_a_replaced_entry_in_one_line(cache, cooling_copy, tmp_path, capsys):
    module = pyloop.load_model(cooling_copy).translation
    module.write_text(module.read_text().replace("return 70", "return 400"))
    out = tmp_path / "out"
    assert cli.main(["run", "--model", str(cooling_copy), "--out", str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    warning = [line for line in err if "cached translation" in line]
    assert len(warning) == 1
    assert warning[0].startswith("pyloop: warning: ignoring the cached translation of 'cooling.mdl'")
    assert "CacheWarning" not in warning[0] and ".py:" not in warning[0]
    import pandas as pd

    assert (pd.read_csv(out / "cooling.csv")["Room Temperature"] == 70).all()


@pytest.mark.parametrize("damage", ["truncate", "manifest", "no manifest", "extra file"])
def test_damaged_entry_is_replaced_once(cache, cooling_copy, damage):
    entry = pyloop.load_model(cooling_copy).cache_dir
    if damage == "truncate":
        text = (entry / "model.py").read_bytes()
        (entry / "model.py").write_bytes(text[: len(text) // 2])
    elif damage == "manifest":
        (entry / MANIFEST_NAME).write_text("{not json")
    elif damage == "no manifest":
        (entry / MANIFEST_NAME).unlink()
    else:
        (entry / "sitecustomize.py").write_text("print('hi')\n")
    with pytest.warns(CacheWarning):
        again = pyloop.load_model(cooling_copy)
    assert again.translated and again.cache_dir == entry
    assert sorted(p.name for p in entry.iterdir()) == [MANIFEST_NAME, "model.py"]
    later = pyloop.load_model(cooling_copy)
    assert not later.translated
    assert later.simulate().equals(again.simulate())


def test_translated_bytes_are_the_bytes_hashed(cache, cooling_copy, monkeypatch):
    """The file is read once: a change after hashing does not reach PySD."""
    import pyloop.engine.translate as model_module

    original = cooling_copy.read_bytes()
    read = model_module.read_model_bytes

    def read_then_change(path):
        data = read(path)
        path.write_text(data.decode().replace("\n\t70\n", "\n\t75\n"))
        return data

    monkeypatch.setattr(model_module, "read_model_bytes", read_then_change)
    model = pyloop.load_model(cooling_copy)
    assert model.defaults["Room Temperature"] == 70
    assert model.cache_dir.name == entry_key(original, ".mdl")


# --------------------------------------------------- cache: names, concurrency
def test_same_model_under_two_names_shares_one_entry(tmp_path, cache):
    a, b = tmp_path / "first.mdl", tmp_path / "second.mdl"
    shutil.copyfile(COOLING, a)
    shutil.copyfile(COOLING, b)
    first, second = pyloop.load_model(a), pyloop.load_model(b)
    assert first.translated and not second.translated
    assert first.cache_dir == second.cache_dir
    assert (first.name, second.name) == ("first", "second")
    assert [p.name for p in cache.iterdir()] == [first.cache_dir.name]


def test_concurrent_loads_of_two_copies_never_fail(tmp_path, cache):
    a, b = tmp_path / "left.mdl", tmp_path / "right.mdl"
    shutil.copyfile(COOLING, a)
    shutil.copyfile(COOLING, b)

    def load(i):
        model = pyloop.load_model(a if i % 2 else b)
        return model.translated, model.simulate(final_time=1).iloc[-1]["Teacup Temperature"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(load, range(32)))
    assert sum(translated for translated, _ in results) == 1
    assert len({value for _, value in results}) == 1
    assert len(list(cache.iterdir())) == 1


def test_concurrent_processes_share_one_translation(tmp_path, cache):
    a, b = tmp_path / "left.mdl", tmp_path / "right.mdl"
    shutil.copyfile(COOLING, a)
    shutil.copyfile(COOLING, b)
    script = "import sys, pyloop; m = pyloop.load_model(sys.argv[1]); print(m.translated, m.cache_dir.name)"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
        for path in (a, b, a, b)
    ]
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert sorted(o[0] for o in outputs) == ["False", "False", "False", "True"]
    assert len({o[1] for o in outputs}) == 1


# ------------------------------------------------------ cache: leftovers
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftovers_of_killed_translations_are_removed(cache, cooling_copy):
    cache.mkdir(mode=0o700)
    dead = cache / f".translating-{_dead_pid()}-abc"
    old = cache / f".translating-{os.getpid()}-old"
    running = cache / f".translating-{os.getppid()}-now"
    foreign = cache / "results-of-the-user"
    for folder in (dead, old, running, foreign):
        folder.mkdir()
        (folder / "model.py").write_text("x = 1\n")
    four_hours_ago = time.time() - 4 * 3600
    os.utime(old, (four_hours_ago, four_hours_ago))
    pyloop.load_model(cooling_copy)
    assert not dead.exists() and not old.exists()
    assert running.exists() and foreign.exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_translation_removes_its_staging_folder(cache, cooling_copy, signum):
    script = (
        # a child started from a background job inherits SIGINT ignored; the
        # case under test is a user's Ctrl-C, so restore Python's own handler
        "import signal, sys, time, pyloop.engine.translate as m\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "real = m._build_entry\n"
        "def slow(data, suffix, label, folder, key):\n"
        "    manifest = real(data, suffix, label, folder, key)\n"
        "    print('built', flush=True)\n"
        "    time.sleep(120)\n"
        "    return manifest\n"
        "m._build_entry = slow\n"
        "m.load_model(sys.argv[1])\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(cooling_copy)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "built"
        staging = [p for p in cache.iterdir() if p.name.startswith(".translating-")]
        assert len(staging) == 1 and (staging[0] / "model.py").is_file()
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert list(cache.iterdir()) == []
