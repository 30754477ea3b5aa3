"""Writing outputs never loses data: all-or-nothing writes, restored files on
failure, one-line errors for disk problems, no leftovers after a crash, and
ensemble files that do not depend on the executor."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import pyloop
import pyloop.files as files
from pyloop.cli import main
from pyloop.cli.commands import run as run_command
from pyloop.sensitivity.ensemble import run_ensemble
from pyloop.files import OutputError, write_file, write_files

from circular import MODEL_PATH
from conftest import MODELS

COOLING = str(MODELS / "cooling.mdl")
ISHIGAMI = MODELS / "ishigami.mdl"
SKETCHED = MODEL_PATH  # a model with a diagram


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder below ``folder``, with the bytes of each file."""
    return {
        p.relative_to(folder).as_posix(): (None if p.is_dir() else p.read_bytes())
        for p in sorted(folder.rglob("*"))
    }


def _leftovers(folder: Path) -> list[str]:
    """Staging folders and temporary files anywhere below ``folder``."""
    return [
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.name.startswith(files.STAGING_PREFIX) or p.name.endswith(".tmp")
    ]


def _one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("pyloop: error: "), err
    return err


def _report_error(err: str) -> str:
    """The error line of ``pyloop report``, after its progress lines."""
    assert "Traceback" not in err
    progress, _, last = err.rstrip("\n").rpartition("\n")
    assert all(line.startswith("[") for line in progress.splitlines()), err
    return _one_error_line(last + "\n")


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# ------------------------------------------------------ the all-or-nothing writer
def test_a_folder_in_the_way_keeps_the_users_earlier_files(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "comparison.png").mkdir(parents=True)
    (out / "baseline.csv").write_text("precious\n")
    before = _snapshot(out)
    code = main(["run", "baseline", "--model", COOLING, "--out", str(out)])
    err = _one_error_line(capsys.readouterr().err)
    assert code == 2
    assert "cannot write results to" in err and "comparison.png" in err
    assert _snapshot(out) == before


def test_a_move_that_fails_midway_restores_every_replaced_file(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("earlier a\n")
    (out / "b.csv").write_text("earlier b\n")
    (out / "notes.txt").write_text("mine\n")
    before = _snapshot(out)
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == out / "b.csv" and "new" in Path(src).parts:  # b.csv cannot be moved in
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    writers = {name: (lambda path, name=name: path.write_text(f"new {name}\n")) for name in ("a.csv", "b.csv", "c.csv")}
    with pytest.raises(OutputError, match=r"cannot write .*b\.csv.*Input/output error"):
        write_files(out, writers)
    assert _snapshot(out) == before  # a.csv was replaced, then put back


def test_replacing_an_earlier_output_keeps_other_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("earlier\n")
    (out / "mine.txt").write_text("mine\n")
    written = write_files(out, {"a.csv": lambda p: p.write_text("new\n"), "sub/b.csv": lambda p: p.write_text("b\n")})
    assert written == [out / "a.csv", out / "sub" / "b.csv"]
    assert _snapshot(out) == {"a.csv": b"new\n", "mine.txt": b"mine\n", "sub": None, "sub/b.csv": b"b\n"}


def test_files_are_staged_inside_the_destination(tmp_path):
    """Staging inside ``out`` makes every rename stay on one file system
    (``out`` may be a mount point)."""
    out = tmp_path / "mount"
    out.mkdir()
    seen = []
    write_files(out, {"a.csv": lambda p: seen.append(p) or p.write_text("a")})
    assert seen[0].parent.parent.parent == out and seen[0].parent.parent.name.startswith(files.STAGING_PREFIX)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_removes_the_folder_it_created(tmp_path, error):
    out = tmp_path / "new" / "out"

    def write(path):
        path.write_text("half")
        raise error

    with pytest.raises(type(error) if isinstance(error, KeyboardInterrupt) else OutputError):
        write_files(out, {"a.csv": lambda p: p.write_text("a"), "b.csv": write})
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_a_folder_that_was_there(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OutputError, match="No space left on device"):
        write_files(out, {"a.csv": _enospc})
    assert out.is_dir() and list(out.iterdir()) == []


def test_a_staging_folder_of_a_killed_process_is_cleared(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f"{files.STAGING_PREFIX}{pid}-x"
    (stale / "new").mkdir(parents=True)
    (stale / "new" / "a.csv").write_text("half")
    holding = tmp_path / f"{files.STAGING_PREFIX}{pid}-y"
    (holding / "backup").mkdir(parents=True)
    (holding / "backup" / "a.csv").write_text("the only copy")
    write_files(tmp_path, {"b.csv": lambda p: p.write_text("b")})
    assert not stale.exists()
    assert (holding / "backup" / "a.csv").read_text() == "the only copy"


def test_sigterm_interrupts_a_command_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"

    def terminated(path):
        path.write_text("half")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal arrives first

    monkeypatch.setattr(run_command, "write_outputs", lambda *args, **kwargs: write_files(out, {"a.csv": terminated}))
    before = signal.getsignal(signal.SIGTERM)
    code = main(["run", "baseline", "--model", COOLING, "--out", str(out)])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before


# ------------------------------------------------------- one line per disk error
def test_a_full_disk_in_run_is_one_line(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "baseline.csv").write_text("earlier\n")
    monkeypatch.setattr(pd.DataFrame, "to_csv", _enospc)
    code = main(["run", "baseline", "--model", COOLING, "--out", str(out)])
    err = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "No space left on device" in err
    assert _snapshot(out) == {"baseline.csv": b"earlier\n"}


def _read_only(monkeypatch):
    """Make every staging folder and temporary file fail as on a read-only disk."""

    class ReadOnly:
        @staticmethod
        def mkdtemp(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))

        mkstemp = mkdtemp

    monkeypatch.setattr(files, "tempfile", ReadOnly)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "baseline", "--model", COOLING, "--out", "{out}"],
        ["diagram", "--model", str(SKETCHED), "--out", "{out}", "--format", "png"],
        ["export", "--xmile", "--model", COOLING, "--out", "{out}/cooling.xmile"],
        ["sensitivity", "--model", str(ISHIGAMI), "--samples", "8", "--out", "{out}"],
        ["ledger", "--model", str(MODELS / "tiny_ring.mdl"), "--csv", "{out}"],
        ["loops", "--model", str(MODELS / "logistic.mdl"), "--json", "{out}/loops.json"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_read_only_folder_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("mine\n")
    _read_only(monkeypatch)
    code = main([a.replace("{out}", str(out)) for a in argv])
    err = _one_error_line(capsys.readouterr().err)
    assert code == 2
    assert "cannot write" in err and "Read-only file system" in err
    assert _snapshot(out) == {"mine.txt": b"mine\n"}


def test_diagram_into_an_existing_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "picture.png"
    target.write_bytes(b"mine")
    code = main(["diagram", "--model", str(SKETCHED), "--out", str(target)])
    err = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "cannot write" in err and "is a file, not a folder" in err
    assert target.read_bytes() == b"mine"
    assert [p.name for p in tmp_path.iterdir()] == ["picture.png"]


def test_export_into_a_folder_and_onto_a_full_disk(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "twin"
    folder.mkdir()
    assert main(["export", "--xmile", "--model", COOLING, "--out", str(folder)]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "cannot write" in err and "it is a folder" in err
    target = tmp_path / "cooling.xmile"
    target.write_text("earlier twin")
    monkeypatch.setattr(Path, "write_text", _enospc)
    assert main(["export", "--xmile", "--model", COOLING, "--out", str(target)]) == 2
    assert "No space left on device" in _one_error_line(capsys.readouterr().err)
    assert target.read_bytes() == b"earlier twin"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cooling.xmile", "twin"]


def test_write_file_refuses_a_folder(tmp_path):
    with pytest.raises(OutputError, match="it is a folder"):
        write_file(tmp_path, lambda p: p.write_text("x"))


# -------------------------------------------------------------------- report
@pytest.fixture
def no_build(monkeypatch):
    """Make any attempt to build a report fail loudly."""
    import pyloop.report.build as report

    def built(*args, **kwargs):
        raise AssertionError("the report was built before the destination was checked")

    monkeypatch.setattr(report, "collect_runs", built)


def test_report_into_the_working_folder_is_refused_before_the_build(tmp_path, monkeypatch, capsys, no_build):
    (tmp_path / "notes.txt").write_text("mine\n")
    monkeypatch.chdir(tmp_path)
    code = main(["report", "--quick", "--model", COOLING, "--out", "."])
    err = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "is not an earlier pyloop report" in err
    assert _snapshot(tmp_path) == {"notes.txt": b"mine\n"}


def test_report_onto_a_file_is_refused_before_the_build(tmp_path, capsys, no_build):
    target = tmp_path / "report"
    target.write_text("mine\n")
    code = main(["report", "--quick", "--model", COOLING, "--out", str(target)])
    err = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "is a file, not a folder" in err
    assert target.read_text() == "mine\n"


def test_report_onto_a_read_only_disk_is_one_line_before_the_build(tmp_path, monkeypatch, capsys, no_build):
    _read_only(monkeypatch)
    code = main(["report", "--quick", "--model", COOLING, "--out", str(tmp_path / "report")])
    err = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "cannot write" in err and "Read-only file system" in err
    assert list(tmp_path.iterdir()) == []  # the folder it created is gone again


def _fake_report(out: Path, files_written: list[str]) -> None:
    """An earlier report: its marker lists the files it wrote."""
    from pyloop.report import MARKER

    for name in files_written:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(f"earlier {name}\n")
    (out / MARKER).write_text(json.dumps({"files": [*files_written, MARKER]}))


def _small_report(out: Path):
    from pyloop.report import ReportSettings, build_report

    return build_report(out, COOLING, ReportSettings(quick=True))


def test_a_report_replaces_only_the_files_of_the_earlier_report(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    _fake_report(out, ["report.html", "figures/gone.png"])
    (out / "notes.txt").write_text("mine\n")
    (out / "figures" / "my_sketch.png").write_bytes(b"mine")
    path = _small_report(out)
    assert path == out / "report.html"
    assert "earlier" not in path.read_text()
    assert (out / "notes.txt").read_text() == "mine\n"
    assert (out / "figures" / "my_sketch.png").read_bytes() == b"mine"
    assert not (out / "figures" / "gone.png").exists()  # the earlier report's own stale figure
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["build", "figure", "publish"])
def test_a_failed_report_leaves_the_earlier_one_as_it_was(tmp_path, monkeypatch, capsys, where):
    import pyloop.report.build as report

    out = tmp_path / "report"
    out.mkdir()
    _fake_report(out, ["report.html", "figures/a.png"])
    (out / "notes.txt").write_text("mine\n")
    before = _snapshot(out)
    if where == "build":
        monkeypatch.setattr(report, "render", _enospc)
    elif where == "figure":
        import pyloop.plots as plots

        def save_figure(fig, path, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

        monkeypatch.setattr(plots, "save_figure", save_figure)
    else:
        real_replace = os.replace

        def replace(src, dst):
            if Path(dst) == out / "report.html" and "new" in Path(src).parts:  # moving in fails
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
            return real_replace(src, dst)

        monkeypatch.setattr(files.os, "replace", replace)
    code = main(["report", "--quick", "--model", COOLING, "--out", str(out)])
    err = _report_error(capsys.readouterr().err)
    assert code == 2 and "cannot write" in err and "No space left on device" in err
    assert files.STAGING_PREFIX not in err  # names the output, not where it was staged
    if where == "figure":
        assert f"'{out / 'figures'}" in err
    assert _snapshot(out) == before


# --------------------------------------------------------------- sensitivity
def _sensitivity(out: Path, *extra: str, samples: int = 16, seed: int = 1) -> int:
    return main(["sensitivity", "--model", str(ISHIGAMI), "--samples", str(samples), "--seed", str(seed),
                 "--out", str(out), *extra])


def test_sensitivity_refuses_a_complete_ensemble_without_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    assert _sensitivity(out) == 0
    capsys.readouterr()
    before = _snapshot(out)
    assert _sensitivity(out, seed=2) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "already holds a complete ensemble (16 runs)" in err
    assert "--resume" in err and "--overwrite" in err
    assert _snapshot(out) == before


def test_sensitivity_refuses_an_unfinished_ensemble(tmp_path, capsys):
    folder = tmp_path / "out" / "mc" / "defaults"
    run_ensemble(ISHIGAMI, "mc", 16, seed=1, out=folder, batch_size=4, stop_after=1)
    before = _snapshot(folder)
    assert _sensitivity(tmp_path / "out") == 2
    assert "already holds an unfinished ensemble (4 of 16 runs)" in _one_error_line(capsys.readouterr().err)
    assert _snapshot(folder) == before
    assert _sensitivity(tmp_path / "out", "--resume") == 0
    assert len(pd.read_csv(folder / "outcomes.csv")) == 16


def test_overwrite_replaces_only_the_ensembles_own_files(tmp_path):
    out = tmp_path / "out"
    folder = out / "mc" / "defaults"
    assert _sensitivity(out, seed=1) == 0
    first = pd.read_csv(folder / "samples.csv")
    (folder / "notes.txt").write_text("mine\n")
    assert _sensitivity(out, "--overwrite", seed=2) == 0
    second = pd.read_csv(folder / "samples.csv")
    assert not first.equals(second)
    assert json.loads((folder / "manifest.json").read_text())["seed"] == 2
    assert (folder / "notes.txt").read_text() == "mine\n"
    assert _leftovers(tmp_path) == []


def test_a_failed_overwrite_restores_the_earlier_ensemble(tmp_path, monkeypatch, capsys):
    import pyloop.sensitivity.executors as executors

    out = tmp_path / "out"
    assert _sensitivity(out, seed=1) == 0
    (out / "mc" / "defaults" / "notes.txt").write_text("mine\n")
    before = _snapshot(out)

    def broken(*args, **kwargs):
        raise pyloop.errors.SimulationError("a run of the ensemble failed")

    monkeypatch.setattr(executors, "iter_serial", broken)
    assert _sensitivity(out, "--overwrite", seed=2) == 2
    capsys.readouterr()
    assert _snapshot(out) == before


@pytest.mark.parametrize("failing_write", [1, 2, 3])
def test_a_full_disk_in_a_fresh_ensemble_leaves_nothing(tmp_path, monkeypatch, capsys, failing_write):
    """The n-th synced write fails: samples.csv, manifest.json, the first outcomes."""
    pyloop.load_model(ISHIGAMI)  # translated before the disk fills up
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("mine\n")
    real_fsync = os.fsync
    calls = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == failing_write:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    code = main(["sensitivity", "--model", str(ISHIGAMI), "--samples", "8", "--out", str(out)])
    err = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "cannot write" in err and "No space left on device" in err
    assert _snapshot(out) == {"mine.txt": b"mine\n"}


def test_resume_and_overwrite_together_are_refused(tmp_path, capsys):
    assert _sensitivity(tmp_path / "out", "--resume", "--overwrite") == 2
    assert "not both" in _one_error_line(capsys.readouterr().err)


# -------------------------------------------- ensemble files do not depend on the executor
def test_ensemble_files_are_byte_identical_across_executors_and_resume(tmp_path):
    model = pyloop.load_model(ISHIGAMI)
    kw = dict(method="mc", samples=30, seed=5, batch_size=4)
    run_ensemble(model, executor="serial", out=tmp_path / "serial", **kw)
    run_ensemble(model, executor="processes", workers=2, out=tmp_path / "processes", **kw)
    run_ensemble(model, executor="dask", dask_address="local", workers=2, out=tmp_path / "dask", **kw)
    run_ensemble(model, executor="processes", workers=2, out=tmp_path / "resumed", stop_after=3, **kw)
    run_ensemble(model, executor="vectorised", out=tmp_path / "resumed", resume=True, **kw)
    reference = _snapshot(tmp_path / "serial")
    runs = pd.read_csv(tmp_path / "serial" / "outcomes.csv")["run"]
    assert list(runs) == list(range(30))
    for other in ("processes", "dask", "resumed"):
        assert _snapshot(tmp_path / other) == reference, other


def test_an_interrupted_fresh_ensemble_keeps_its_runs_for_resume(tmp_path, monkeypatch):
    import pyloop.sensitivity.executors as executors

    model = pyloop.load_model(ISHIGAMI)
    kw = dict(method="mc", samples=12, seed=2, batch_size=4, executor="serial")
    run_ensemble(model, out=tmp_path / "whole", **kw)
    real = executors.iter_serial

    def interrupted(task, batches, vectorise=True):
        for k, item in enumerate(real(task, batches, vectorise)):
            if k == 2:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(executors, "iter_serial", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ensemble(model, out=tmp_path / "part", **kw)
    assert len(pd.read_csv(tmp_path / "part" / "outcomes.csv")) == 8
    monkeypatch.setattr(executors, "iter_serial", real)
    run_ensemble(model, out=tmp_path / "part", resume=True, **kw)
    assert _snapshot(tmp_path / "part") == _snapshot(tmp_path / "whole")


# ------------------------------------------------------------ worker processes
def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` or that are in its process group."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == pid:
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        state, ppid, pgid = fields[0], int(fields[1]), int(fields[2])
        if state != "Z" and (ppid == pid or pgid == pid):
            found.add(int(entry.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] != "Z":
            alive.add(pid)
    return alive


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc")
def test_workers_die_with_a_killed_parent_and_resume_leaves_no_leftovers(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pyloop", "sensitivity", "--model", str(MODELS / "pulsed.mdl"),
               "--samples", "3000", "--workers", "2", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        outcomes = out / "mc" / "defaults" / "outcomes.csv"
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while time.monotonic() < deadline and process.poll() is None:
            workers = _children(process.pid)
            if len(workers) >= 2 and outcomes.is_file() and outcomes.stat().st_size > 0:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the ensemble ended before it could be killed"
        assert len(workers) >= 2
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 10
        while _alive(workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive(workers) == set()
        assert _alive(_children(process.pid)) == set()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    done = outcomes.read_text().count("\n") - 1  # complete rows after the header
    assert 0 < done < 3000
    subprocess.run([*command, "--resume"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert len(pd.read_csv(outcomes)) == 3000
    assert _leftovers(tmp_path) == []
