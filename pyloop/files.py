"""Write output files all-or-nothing, without ever losing a file.

Every command writes its outputs through this module:

- :func:`write_files` writes several files into a folder: each file is first
  written into a hidden staging folder ``.pyloop-staging-*`` *inside* that
  folder (so the final renames never cross a file-system boundary, even when
  the folder is a mount point), then moved into place. A file of the same
  name that was there before is moved into the staging folder first, as a
  backup: if any step fails, every moved file is put back, so a failed
  command leaves the folder exactly as it was. Files the command does not
  write are never touched.
- :func:`write_file` writes one file that way (staging in its folder).
- :func:`write_text_atomic` replaces one text file through a temporary file
  beside it, removed on any failure.

A folder the command had to create is removed again on failure if it is
still empty. Every :class:`OSError` met while writing becomes an
:class:`OutputError` with one line ``cannot write '<path>': <reason>``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Mapping

from pyloop.errors import PyloopError

__all__ = [
    "STAGING_PREFIX",
    "OutputError",
    "Staging",
    "cannot_write",
    "clear_stale_staging",
    "make_folder",
    "pid_alive",
    "remove_created",
    "write_file",
    "write_files",
    "write_text_atomic",
]

#: Name prefix of the hidden staging folders (followed by the writer's pid).
STAGING_PREFIX = ".pyloop-staging-"


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class OutputError(PyloopError):
    """An output file or folder cannot be written (full or read-only disk,
    a file where a folder is expected, no permission).

    Attributes:
        path: what could not be written.
        reason: why, in a few words (the system's reason for an OSError).
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None, reason: str | None = None):
        super().__init__(message)
        self.path = path
        self.reason = reason or message


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def cannot_write(path: str | os.PathLike[str], exc: OSError) -> OutputError:
    """The one-line :class:`OutputError` for ``exc`` met writing ``path``."""
    return OutputError(
        f"cannot write '{path}': {_reason(exc)}; free some space, fix the permissions "
        "or choose another output path",
        path,
        _reason(exc),
    )


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale_staging(folder: Path) -> None:
    """Remove staging folders and temporary files left in ``folder`` by a
    pyloop process that no longer runs (killed before it could clean up).

    A staging folder that still holds backups of replaced files is kept: it
    is the only copy of those files.
    """
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(STAGING_PREFIX) and entry.is_dir():
            pid = entry.name[len(STAGING_PREFIX):].split("-", 1)[0]
            if not pid.isdigit() or pid_alive(int(pid)):
                continue
            backup = entry / "backup"
            if backup.is_dir() and any(p.is_file() for p in backup.rglob("*")):
                continue
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(".") and ".pyloop-" in entry.name and entry.name.endswith(".tmp"):
            pid = entry.name.rsplit(".pyloop-", 1)[1].split("-", 1)[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                entry.unlink(missing_ok=True)


def make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, outermost first.

    Raises:
        OutputError: ``folder`` or a parent is a file, or cannot be created.
    """
    missing: list[Path] = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "it is" if probe == folder else f"'{probe}' is"
        raise OutputError(
            f"cannot write '{folder}': {what} a file, not a folder; choose another output path",
            folder,
            f"{what} a file, not a folder",
        )
    created: list[Path] = []
    try:
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
    except OSError as exc:
        remove_created(created)
        raise cannot_write(folder, exc) from exc
    return created


def remove_created(created: Iterable[Path]) -> None:
    """Remove the folders ``created`` (outermost first) that are still empty."""
    for path in reversed(list(created)):
        try:
            path.rmdir()
        except OSError:
            return


class Staging:
    """Stage files inside ``out`` and publish them all-or-nothing.

    Use as a context manager: :meth:`path` gives where to write a file,
    :meth:`publish` moves every staged file into ``out``. Leaving the block
    by any exception (including :class:`KeyboardInterrupt`) undoes a partial
    publish, removes the staging folder, and removes ``out`` (and parents)
    if this object created it and it is still empty.

    Args:
        out: the destination folder (created if missing).
    """

    def __init__(self, out: str | os.PathLike[str]):
        self.out = Path(out)
        self.root: Path | None = None
        self._created: list[Path] = []
        self._made: list[Path] = []
        self._moved: list[tuple[Path, Path | None]] = []
        self.published = False

    def __enter__(self) -> "Staging":
        self._created = make_folder(self.out)
        clear_stale_staging(self.out)
        try:
            self.root = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=self.out))
        except OSError as exc:
            remove_created(self._created)
            raise cannot_write(self.out, exc) from exc
        return self

    @property
    def folder(self) -> Path:
        """The staging folder's copy of ``out``: files written below it are
        published at the same relative path in ``out``."""
        assert self.root is not None, "use Staging as a context manager"
        folder = self.root / "new"
        folder.mkdir(exist_ok=True)
        return folder

    def path(self, name: str | os.PathLike[str]) -> Path:
        """Where to write the output ``name`` (a path relative to ``out``)."""
        assert self.root is not None, "use Staging as a context manager"
        target = self.root / "new" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def destination(self, path: str | os.PathLike[str]) -> Path | None:
        """Where the staged file ``path`` will be published (``path`` itself
        if it is already inside ``out``), or None for a path outside ``out``."""
        path = Path(os.path.abspath(path))
        if self.root is not None:
            new = Path(os.path.abspath(self.root / "new"))
            if path.is_relative_to(new):
                return self.out / path.relative_to(new)
        out = Path(os.path.abspath(self.out))
        return path if path.is_relative_to(out) else None

    def staged(self) -> list[Path]:
        """Relative paths of every file staged so far."""
        assert self.root is not None
        new = self.root / "new"
        if not new.is_dir():
            return []
        return sorted(p.relative_to(new) for p in new.rglob("*") if not p.is_dir())

    def publish(self, remove: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
        """Move every staged file into ``out``, replacing files of the same name.

        Args:
            remove: further files in ``out`` (relative paths) that this
                command wrote earlier and that are now stale; they are moved
                to the backup too, so a failure restores them.

        Returns:
            The paths written in ``out``.

        Raises:
            OutputError: a staged file would replace a folder (or sit below
                a file), or a move failed (everything is then undone).
        """
        assert self.root is not None
        names = self.staged()
        for rel in names:
            self._check_destination(rel)
        dest = self.out
        try:
            for rel in [Path(r) for r in remove]:
                dest = self.out / rel
                if rel not in names and dest.is_file():
                    self._backup(rel)
                    self._moved.append((dest, self.root / "backup" / rel))
            for rel in names:
                dest = self.out / rel
                self._make_parents(dest.parent)
                backup = self._backup(rel) if dest.is_file() or dest.is_symlink() else None
                self._moved.append((dest, backup))
                os.replace(self.root / "new" / rel, dest)
        except OSError as exc:
            self._undo()
            raise cannot_write(dest, exc) from exc
        except BaseException:
            self._undo()
            raise
        self.published = True
        return [self.out / rel for rel in names]

    def _check_destination(self, rel: Path) -> None:
        dest = self.out / rel
        for parent in list(reversed(rel.parents))[1:]:
            if (self.out / parent).exists() and not (self.out / parent).is_dir():
                raise OutputError(
                    f"cannot write '{dest}': '{self.out / parent}' is a file, not a folder; "
                    "move it away or choose another output path",
                    dest,
                    f"'{self.out / parent}' is a file, not a folder",
                )
        if dest.is_dir() and not dest.is_symlink():
            raise OutputError(
                f"cannot write '{dest}': a folder of that name is in the way; "
                "move it away or choose another output path",
                dest,
                f"a folder '{dest}' is in the way",
            )

    def _make_parents(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            path.mkdir()
            self._made.append(path)

    def _backup(self, rel: Path) -> Path:
        assert self.root is not None
        backup = self.root / "backup" / rel
        backup.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.out / rel, backup)
        return backup

    def _undo(self) -> None:
        """Put every replaced file back and remove every file moved in."""
        for dest, backup in reversed(self._moved):
            try:
                if backup is None:
                    dest.unlink(missing_ok=True)
                elif backup.exists() or backup.is_symlink():
                    os.replace(backup, dest)
            except OSError:
                pass  # keep undoing the others; the backup stays in staging
        self._moved.clear()
        remove_created(self._made)
        self._made.clear()

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None and not self.published:
            self._undo()
        if self.root is not None:
            backup = self.root / "backup"
            lost = kind is not None and backup.is_dir() and any(p.is_file() for p in backup.rglob("*"))
            if not lost:  # never delete the last copy of a file that could not be put back
                shutil.rmtree(self.root, ignore_errors=True)
        if kind is not None:
            remove_created(self._created)


def write_files(
    out: str | os.PathLike[str], writers: Mapping[str, Callable[[Path], None]]
) -> list[Path]:
    """Write files into the folder ``out`` all-or-nothing.

    Each writer gets a path inside a staging folder in ``out``; the files
    are moved into ``out`` only when every writer succeeded. A failure
    leaves ``out`` as it was (files it replaced are restored).

    Args:
        out: target folder (created if needed).
        writers: file name (may contain ``/``) -> function that writes that
            file at the path it is given.

    Returns:
        The paths written in ``out``.

    Raises:
        OutputError: a file cannot be written (one-line message).
    """
    out = Path(out)
    with Staging(out) as staging:
        for name, write in writers.items():
            target = staging.path(name)
            try:
                write(target)
            except OSError as exc:
                raise cannot_write(out / name, exc) from exc
        return staging.publish()


def write_file(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Write one file all-or-nothing (see :func:`write_files`).

    Raises:
        OutputError: ``path`` is a folder, or cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write '{path}': it is a folder; give a file name", path, "it is a folder")
    return write_files(path.parent, {path.name: write})[0]


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace the text file ``path`` through a temporary file beside it.

    The temporary file (``.<name>.pyloop-<pid>-*.tmp``) is removed on any
    failure, so a full disk leaves either the old file or the new one.

    Raises:
        OutputError: the file cannot be written.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pyloop-{os.getpid()}-", suffix=".tmp", dir=path.parent)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; give it a new file's mode
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise cannot_write(path, exc) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
