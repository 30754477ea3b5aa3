"""Translate a model file into the cache and load it: the model-file half of
the engine.

A model file (Vensim ``.mdl`` or XMILE ``.xmile``/``.xml``/``.stmx``) is
translated to Python once and kept in a cache directory outside the source
tree, keyed by the SHA-256 of the file's bytes, the PySD version and the
sanitiser version (see :mod:`pyloop.engine.cache`). Later loads of an unchanged file
reuse the translation once it has checked out.

Untrusted model files
---------------------
A model file is untrusted input. It is refused if it is too large or not
text (:mod:`pyloop.engine.sanitise`); PySD parses it, pyloop neutralises every
piece of model text in the parsed model before PySD writes Python from it,
and the Python is checked against what PySD's builder writes
(:mod:`pyloop.engine.codecheck`) before every import. The original units and
comments are kept in the cache entry's manifest and shown in
:attr:`~pyloop.engine.pysd_model.Model.variables`; a name containing single
quotes or backslashes keeps a neutral spelling there, and its spelling in the
file is accepted too.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Mapping

import pysd

from pyloop.declarations.paths import check_declarations
from pyloop.engine.cache import (
    MANIFEST_NAME,
    MANIFEST_FORMAT,
    MODULE_NAME,
    entry_key,
    file_digest,
    private_root,
    publish,
    remove_leftovers,
    staging_folder,
    translation_lock,
    verified_manifest,
    warn_unusable,
)
from pyloop.engine.codecheck import check_translation
from pyloop.engine.parse import VENSIM_SUFFIXES, XMILE_SUFFIXES, abstract_model, error_gist
from pyloop.engine.pysd_model import Model
from pyloop.engine.sanitise import SANITISER_VERSION, neutralise, read_model_bytes
from pyloop.errors import ModelFileError

__all__ = ["load_model"]


def _translate(data: bytes, suffix: str, label: str, root: Path, entry: Path, key: str) -> dict:
    """Translate a model's bytes into the cache entry ``entry``, atomically.

    ``data`` (the bytes that were hashed into ``key``) is written into a
    staging folder, parsed by PySD, neutralised, built into Python and
    checked; the folder, with a manifest of SHA-256 sums, is renamed to
    ``entry`` only when all of that succeeded. Call under the cache lock.

    Returns:
        The entry's manifest.
    """
    try:
        with staging_folder(root) as folder:
            manifest = _build_entry(data, suffix, label, folder, key)
            try:
                publish(folder, entry)
            except OSError as exc:
                raise ModelFileError(
                    f"cannot store the translation of '{label}' in '{entry}': "
                    f"{exc.strerror or exc}; check PYLOOP_CACHE_DIR"
                ) from exc
    except OSError as exc:
        raise ModelFileError(
            f"cannot write the translation cache '{root}': {exc.strerror or exc}; "
            "set PYLOOP_CACHE_DIR to a writable directory"
        ) from exc
    return manifest


def _build_entry(data: bytes, suffix: str, label: str, folder: Path, key: str) -> dict:
    """Fill the staging ``folder`` with the checked translation of ``data``
    and its manifest; return the manifest."""
    from pysd.builders.python.python_model_builder import ModelBuilder

    copied = folder / Path(MODULE_NAME).with_suffix(suffix)
    copied.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            abstract = abstract_model(copied)
            text = neutralise(abstract, folder)
            ModelBuilder(abstract).build_model()
    except ModelFileError:
        raise
    except Exception as exc:  # PySD raises many kinds; rephrase them all
        raise ModelFileError(
            f"cannot translate model file '{label}': {error_gist(exc)}; correct the model file there"
        ) from exc
    copied.unlink()  # the entry keeps only what is imported
    files = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".py":
            check_translation(path.read_text(encoding="utf-8"), label)
        files[path.name] = file_digest(path)
    manifest = {
        "format": MANIFEST_FORMAT,
        "key": key,
        "pysd": pysd.__version__,
        "sanitiser": SANITISER_VERSION,
        "files": files,
        **text,
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    for path in folder.iterdir():
        path.chmod(0o600)  # private whatever the umask
    return manifest


def _cached_translation(data: bytes, suffix: str, label: str) -> tuple[Path, dict, bool]:
    """The verified cache entry of a model's bytes, translating when needed.

    Returns:
        ``(entry folder, manifest, translated)``.
    """
    root = private_root()
    remove_leftovers(root)
    key = entry_key(data, suffix)
    entry = root / key
    manifest, _ = verified_manifest(entry, key)
    if manifest is not None:
        return entry, manifest, False
    with translation_lock(root):
        # another process may have translated it while this one waited
        manifest, reason = verified_manifest(entry, key)
        if manifest is not None:
            return entry, manifest, False
        if reason:
            warn_unusable(entry, reason, label)
        return entry, _translate(data, suffix, label, root, entry, key), True


def load_model(
    path: str | os.PathLike[str],
    declarations: Mapping[str, str | os.PathLike[str] | None] | None = None,
) -> Model:
    """Load a model file, translating it into the cache when needed.

    Args:
        path: a Vensim ``.mdl`` or XMILE ``.xmile``/``.xml``/``.stmx`` file.
        declarations: declaration files to use instead of those beside the
            model, by kind (see :mod:`pyloop.declarations.paths`), e.g.
            ``{"scenarios": "models/other.scenarios.toml"}``.

    Returns:
        A :class:`Model` ready to :meth:`Model.simulate`.

    Raises:
        ModelFileError: the file is missing, has an unsupported suffix,
            cannot be translated or cannot be initialised.
        PyloopError: a named declaration file does not exist.
    """
    named = check_declarations(declarations)
    source = Path(path)
    suffix = source.suffix.lower()
    if suffix not in VENSIM_SUFFIXES + XMILE_SUFFIXES:
        raise ModelFileError(
            f"unsupported model file '{source.name}': expected a Vensim "
            f"{'/'.join(VENSIM_SUFFIXES)} or XMILE {'/'.join(XMILE_SUFFIXES)} file"
        )
    if not source.is_file():
        raise ModelFileError(
            f"model file not found: '{source}'; check the path "
            "(or pass --model PATH on the command line)"
        )
    data = read_model_bytes(source)
    entry, manifest, translated = _cached_translation(data, suffix, source.name)
    py_file = entry / MODULE_NAME
    # checked again before every import: the entry may have changed since
    for name in manifest["files"]:
        if name.endswith(".py"):
            check_translation((entry / name).read_text(encoding="utf-8"), source.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine = pysd.load(str(py_file), initialize=False)
            # data files (GET XLS, GET DIRECT ...) are named relative to the model
            # file, not to its translation in the cache
            for external in getattr(engine, "_external_elements", ()):
                external.root = source.resolve().parent
            engine.initialize()
    except Exception as exc:
        raise ModelFileError(
            f"cannot load model '{source.name}': {error_gist(exc)}; "
            "check the model's initial values and data files"
        ) from exc
    return Model(
        engine,
        source=source.resolve(),
        cache_dir=entry,
        translated=translated,
        declarations=named,
        text=manifest,
    )
