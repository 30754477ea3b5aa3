"""Cost of the checks on a model load, and concurrent loads under two names.

Measures, for the main model in a fresh cache directory:

* the median time of a cached ``load_model`` (which verifies the entry's
  SHA-256 sums and checks the translated Python's syntax tree);
* the time of that syntax-tree check alone;
* ``--loads`` loads from ``--threads`` threads, half of them through a
  second copy of the model under another file name: how many failed, how
  many translated, how many cache entries they left.

Usage::

    python benchmarks/model_loading.py [--loads 1000] [--threads 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "ai_circular_finance.mdl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=1000, help="concurrent loads (default 1000)")
    parser.add_argument("--threads", type=int, default=8, help="threads (default 8)")
    parser.add_argument("--repeat", type=int, default=7, help="cached loads timed (default 7)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["PYLOOP_CACHE_DIR"] = str(folder / "cache")
        import pyloop
        from pyloop.engine.codecheck import check_translation

        model = pyloop.load_model(MODEL)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            pyloop.load_model(MODEL)
            times.append(time.perf_counter() - start)
        print(f"cached load_model: median {statistics.median(times):.3f} s over {args.repeat}")
        source = model.translation.read_text(encoding="utf-8")
        start = time.perf_counter()
        check_translation(source, MODEL.name)
        print(f"syntax-tree check of the translation: {time.perf_counter() - start:.3f} s")

        shutil.rmtree(folder / "cache")
        copies = [folder / "left.mdl", folder / "right.mdl"]
        for copy in copies:
            shutil.copyfile(MODEL, copy)

        def load(i: int) -> str:
            try:
                return "translated" if pyloop.load_model(copies[i % 2]).translated else "reused"
            except Exception as exc:  # counted, not raised: the figure is the count
                return f"failed: {type(exc).__name__}: {exc}"

        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            outcomes = list(pool.map(load, range(args.loads)))
        failed = [o for o in outcomes if o.startswith("failed")]
        print(
            f"{args.loads} concurrent loads under two names ({args.threads} threads): "
            f"{len(failed)} failed, {outcomes.count('translated')} translated, "
            f"{len(list((folder / 'cache').iterdir()))} cache entries"
        )
        for line in sorted(set(failed))[:5]:
            print("  " + line)


if __name__ == "__main__":
    main()
