"""Build every bundled default into the cache (run once by `make install`; each step is skipped
when its cache is already complete). ``python -m harness.setup_data [alfworld|hotpotqa|webshop|smollm2]``."""
from __future__ import annotations

import sys
import time
from importlib import import_module

#: what to build -> "module:function" (each function is idempotent and returns the path it filled)
STEPS: dict[str, str] = {
    "webshop": "envs.webshop.data:ensure_bundled",
    "hotpotqa": "envs.hotpotqa.data:ensure_bundled",
    "alfworld": "harness.setup_data:ensure_alfworld",
    "smollm2": "distill.models:ensure_smollm2",
}


def ensure_alfworld() -> object:
    """ALFWorld's bundled splits, keeping only games the honest expert solves within 50 steps (as
    upstream keeps only games its handcoded expert solves; envs cannot import agents, so the check is
    passed in here)."""
    from agents.experts.alfworld import solves
    from envs.alfworld.data import ensure_bundled

    return ensure_bundled(solver=solves)


def main(argv: list[str] | None = None) -> int:
    wanted = (argv if argv is not None else sys.argv[1:]) or list(STEPS)
    unknown = [w for w in wanted if w not in STEPS]
    if unknown:
        print(f"unknown data {unknown}; choose from {list(STEPS)}", file=sys.stderr)
        return 2
    for name in wanted:
        module, _, func = STEPS[name].partition(":")
        t0 = time.perf_counter()
        path = getattr(import_module(module), func)()
        print(f"[setup] {name:<9} ready in {time.perf_counter() - t0:6.1f} s  ->  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
