"""Run every benchmark (``make bench``), or the ones named: ``python -m bench batch tag``."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    modules = pkgutil.iter_modules([str(Path(__file__).parent)])
    names = sorted(m.name[len("bench_"):] for m in modules if m.name.startswith("bench_"))
    chosen = argv or names
    results = {}
    for name in chosen:
        if name not in names:
            print(f"error: no benchmark {name!r}; choose from {', '.join(names)}", file=sys.stderr)
            return 2
        print(f"== bench {name}", flush=True)
        results[name] = importlib.import_module(f"bench.bench_{name}").main()
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
