"""The translation cache: a private folder of translated models that checks
itself before anything in it is imported.

Layout: one entry folder per model content, named by :func:`entry_key` (the
SHA-256 of the model's bytes, its suffix, the PySD version and
:data:`~pyloop.engine.sanitise.SANITISER_VERSION`), so the same model under two
file names shares one entry. An entry holds the translated module under the
fixed name ``model.py`` (plus any macro modules) and ``manifest.json``: the
SHA-256 of every file, the versions that made it, and the original units,
comments and names of the model's variables.

Rules:

* the cache root is created private (mode 0700); a root owned by another
  user or writable by group or others is refused;
* an entry is used only if it, its files and its manifest are owned by the
  current user, not writable by group or others, and every file matches
  its recorded SHA-256; anything else (edited, truncated, planted, stale)
  is set aside with a warning and translated again;
* entries are built in a ``.translating-<pid>-*`` folder and renamed into
  place whole, under an exclusive lock on the cache root, so concurrent
  loads never see half an entry; staging folders of dead processes (or
  older than :data:`STALE_AFTER` seconds) are removed at the next load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import pysd

from pyloop.errors import ModelFileError
from pyloop.files import pid_alive
from pyloop.engine.sanitise import SANITISER_VERSION

try:  # POSIX only; elsewhere entries are still verified, just not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CacheWarning",
    "MODULE_NAME",
    "MANIFEST_NAME",
    "STALE_AFTER",
    "cache_root",
    "private_root",
    "entry_key",
    "verified_manifest",
    "translation_lock",
    "staging_folder",
    "publish",
    "remove_leftovers",
    "file_digest",
    "warn_unusable",
]

#: File name of the translated main module inside every entry.
MODULE_NAME = "model.py"
#: File name of an entry's manifest.
MANIFEST_NAME = "manifest.json"
#: Format of the manifest; part of the cache key.
MANIFEST_FORMAT = 1
#: Age (seconds) after which any staging folder counts as abandoned.
STALE_AFTER = 3 * 3600
_STAGING = ".translating-"
_DISCARDED = ".discarded-"


class CacheWarning(UserWarning):
    """A cache entry was unusable and is being translated again."""


def cache_root() -> Path:
    """Directory holding translated models.

    ``$PYLOOP_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/pyloop``, else
    ``~/.cache/pyloop``.
    """
    explicit = os.environ.get("PYLOOP_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "pyloop"
    return Path.home() / ".cache" / "pyloop"


def _unsafe(info: os.stat_result) -> str | None:
    """Why a file or folder with this status may not be trusted, or None."""
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return f"owned by another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by group or others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def private_root() -> Path:
    """The cache root, created with mode 0700 if missing, checked if present.

    Raises:
        ModelFileError: the root cannot be created, is not a folder, or is
            owned by another user or writable by group or others.
    """
    root = cache_root()
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        root.mkdir(mode=0o700, exist_ok=True)
        info = root.stat()
    except OSError as exc:
        raise ModelFileError(
            f"cannot write the translation cache '{root}': {exc.strerror or exc}; "
            "set PYLOOP_CACHE_DIR to a writable directory"
        ) from exc
    if not stat.S_ISDIR(info.st_mode):
        raise ModelFileError(
            f"the translation cache '{root}' is not a directory; "
            "set PYLOOP_CACHE_DIR to a writable directory"
        )
    problem = _unsafe(info)
    if problem:
        raise ModelFileError(
            f"refusing the translation cache '{root}': it is {problem}; "
            f"run 'chmod 700 {root}' if it is yours, or set PYLOOP_CACHE_DIR to a private directory"
        )
    return root


def entry_key(data: bytes, suffix: str) -> str:
    """Name of the cache entry of a model file's bytes (hex SHA-256)."""
    digest = hashlib.sha256()
    for part in (
        f"pyloop-cache {MANIFEST_FORMAT}",
        suffix.lower(),
        f"pysd {pysd.__version__}",
        f"sanitiser {SANITISER_VERSION}",
    ):
        digest.update(part.encode() + b"\0")
    digest.update(data)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _private_pycache(folder: Path) -> str | None:
    """Make an entry's ``__pycache__`` private, or say why it cannot be trusted.

    Python writes compiled copies of the modules there at import, with the
    user's umask: group write permission is taken away; a folder with
    anything owned by someone else is removed (Python compiles the checked
    source again).
    """
    for item in (folder, *folder.iterdir()):
        info = item.lstat()
        if stat.S_ISLNK(info.st_mode) or (hasattr(os, "geteuid") and info.st_uid != os.geteuid()):
            shutil.rmtree(folder, ignore_errors=True)
            if os.path.lexists(folder):
                return f"'{folder.name}' holds '{item.name}', owned by another user"
            return None
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            os.chmod(item, stat.S_IMODE(info.st_mode) & ~(stat.S_IWGRP | stat.S_IWOTH))
    return None


def _check_tree(folder: Path, expected: set[str]) -> str | None:
    """Why the files of an entry folder may not be trusted, or None."""
    for child in folder.iterdir():
        info = child.lstat()
        if child.name == "__pycache__" and stat.S_ISDIR(info.st_mode):
            problem = _private_pycache(child)
            if problem:
                return problem
            continue
        if child.name not in expected:
            return f"it holds an unexpected file '{child.name}'"
        if not stat.S_ISREG(info.st_mode):
            return f"'{child.name}' is not a regular file"
        problem = _unsafe(info)
        if problem:
            return f"'{child.name}' is {problem}"
    return None


def verified_manifest(entry: Path, key: str) -> tuple[dict[str, Any] | None, str | None]:
    """The manifest of a cache entry if the whole entry checks out.

    Returns:
        ``(manifest, None)`` for a sound entry, ``(None, None)`` when there
        is no entry, ``(None, reason)`` when the entry exists but must not
        be used.
    """
    try:
        info = entry.lstat()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"it cannot be read ({exc.strerror or exc})"
    if not stat.S_ISDIR(info.st_mode):
        return None, "it is not a directory"
    problem = _unsafe(info)
    if problem:
        return None, f"it is {problem}"
    try:
        manifest = json.loads((entry / MANIFEST_NAME).read_text(encoding="utf-8"))
        files = manifest["files"]
        if (
            manifest.get("format") != MANIFEST_FORMAT
            or manifest.get("key") != key
            or manifest.get("pysd") != pysd.__version__
            or manifest.get("sanitiser") != SANITISER_VERSION
            or MODULE_NAME not in files
        ):
            return None, "its manifest is stale or belongs to another model"
        if not _well_formed(manifest):
            return None, "its manifest is malformed"
        problem = _check_tree(entry, set(files) | {MANIFEST_NAME})
        if problem:
            return None, problem
        for name, digest in files.items():
            if file_digest(entry / name) != digest:
                return None, f"'{name}' does not match its recorded SHA-256 (edited or truncated)"
    except FileNotFoundError as exc:
        return None, f"'{Path(exc.filename or '?').name}' is missing"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"its manifest is unreadable ({type(exc).__name__})"
    return manifest, None


def _well_formed(manifest: dict[str, Any]) -> bool:
    """True if the manifest's parts have the types pyloop writes: plain
    file names with hex digests, and string-valued names and variables."""
    files, names, variables = (manifest.get(k) for k in ("files", "names", "variables"))
    if not (isinstance(files, dict) and isinstance(names, dict) and isinstance(variables, dict)):
        return False
    plain = all(
        isinstance(n, str) and isinstance(d, str) and n == Path(n).name and not n.startswith(".")
        for n, d in files.items()
    )
    texts = all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()) and all(
        isinstance(v, dict) and all(x is None or isinstance(x, str) for x in v.values())
        for v in variables.values()
    )
    return plain and texts


@contextlib.contextmanager
def translation_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache root (blocks until it is free).

    Translations and replacements of entries happen under this lock, so
    two loads of the same model never translate it twice or replace each
    other's entries. Reading a sound entry needs no lock.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def remove_leftovers(root: Path) -> list[str]:
    """Remove staging folders of killed translations; return their names.

    A ``.translating-<pid>-*`` folder (or a ``.discarded-<pid>-*`` one,
    holding an entry set aside) goes when process ``pid`` is dead or the
    folder is older than :data:`STALE_AFTER`. Only folders owned by the
    current user are touched.
    """
    removed = []
    now = time.time()
    try:
        children = [c for c in os.scandir(root) if c.name.startswith((_STAGING, _DISCARDED))]
    except OSError:
        return removed
    for child in children:
        try:
            info = child.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or (
            hasattr(os, "geteuid") and info.st_uid != os.geteuid()
        ):
            continue
        prefix = _STAGING if child.name.startswith(_STAGING) else _DISCARDED
        pid_text = child.name[len(prefix):].split("-", 1)[0]
        dead = pid_text.isdigit() and not pid_alive(int(pid_text))
        if not dead and now - info.st_mtime < STALE_AFTER:
            continue
        shutil.rmtree(child.path, ignore_errors=True)
        removed.append(child.name)
    return removed


class _Terminated(BaseException):
    """SIGTERM arrived during a translation (re-raised as SystemExit)."""


@contextlib.contextmanager
def staging_folder(root: Path) -> Iterator[Path]:
    """A fresh ``.translating-<pid>-*`` folder in ``root``, removed on exit.

    The folder is removed however the block ends: success (after it was
    published), an exception, Ctrl-C, or SIGTERM (while a SIGTERM handler
    is installed: only in the main thread, and only if none was set).
    """
    folder = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=root))
    previous = None
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

                def _on_term(signum: int, frame: Any) -> None:
                    raise _Terminated()

                previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        yield folder
    except _Terminated:
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(folder, ignore_errors=True)


def publish(folder: Path, entry: Path) -> None:
    """Rename a finished staging folder to ``entry``, replacing a bad entry.

    Call under :func:`translation_lock`. A bad entry is first renamed to a
    ``.discarded-*`` folder (so its name is free at once) and then removed.
    """
    os.chmod(folder, 0o700)
    if os.path.lexists(entry):
        aside = Path(tempfile.mkdtemp(prefix=f"{_DISCARDED}{os.getpid()}-", dir=entry.parent))
        os.replace(entry, aside / "entry")
        shutil.rmtree(aside, ignore_errors=True)
    os.rename(folder, entry)


def warn_unusable(entry: Path, reason: str, label: str) -> None:
    """Say that an entry is set aside and translated again."""
    warnings.warn(
        f"ignoring the cached translation of '{label}' in '{entry}': {reason}; translating it again",
        CacheWarning,
        stacklevel=3,
    )
