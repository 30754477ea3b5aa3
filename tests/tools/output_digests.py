"""Record, or compare against, the SHA-256 of every file the main commands write.

Used to show that a change of code layout changes no output: run ``record``
before the change and ``compare`` after it, on the same machine::

    python tests/tools/output_digests.py record before.json
    python tests/tools/output_digests.py compare before.json

The commands are those whose outputs must stay byte-identical:
``pyloop run --all``, ``pyloop ledger`` (its CSVs and printed table),
``pyloop loops --json`` and ``pyloop sensitivity --seed 0`` (a small Sobol
study). Printed output counts too: it is stored as a file per command.
Exits 1 and names the files that differ when ``compare`` finds a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

COMMANDS = {
    "run": ["run", "--all", "--out", "{out}"],
    "ledger": ["ledger", "--scenario", "baseline", "--csv", "{out}"],
    "loops": ["loops", "--scenario", "baseline", "--json", "{out}/loops.json"],
    "sensitivity": ["sensitivity", "--seed", "0", "--samples", "64", "--workers", "1", "--out", "{out}"],
}


def digests(workdir: Path) -> dict[str, str]:
    """Run every command into ``workdir``; ``{relative file: sha256}``."""
    found: dict[str, str] = {}
    env = dict(os.environ, MPLBACKEND="Agg")
    for name, argv in COMMANDS.items():
        out = workdir / name
        args = [arg.replace("{out}", str(out)) for arg in argv]
        done = subprocess.run(
            [sys.executable, "-m", "pyloop", *args], cwd=REPO, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"pyloop {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        out.mkdir(parents=True, exist_ok=True)
        (out / "stdout.txt").write_text(done.stdout.replace(str(workdir), "<out>"))
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            data = path.read_bytes()
            if path.suffix == ".json":  # paths of the temporary folder are not output
                data = data.replace(str(workdir).encode(), b"<out>")
            found[path.relative_to(workdir).as_posix()] = hashlib.sha256(data).hexdigest()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["record", "compare"])
    parser.add_argument("file", type=Path, help="JSON file of digests")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        now = digests(Path(tmp))
    if args.action == "record":
        args.file.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(now)} files in {args.file}")
        return 0
    before = json.loads(args.file.read_text())
    differ = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    for name in differ:
        print(f"differs: {name}")
    print(f"{len(before)} files before, {len(now)} now, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
