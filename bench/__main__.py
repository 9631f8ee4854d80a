"""
Run every benchmark module in ``bench/`` in turn, each in its own process, and keep its report.

``python -m bench`` (or ``make bench``) runs them all; ``python -m bench throughput overhead``
runs the named ones. Each report is printed as it comes and written to ``bench/results/<name>.txt``.
A benchmark that fails is reported and the others still run; the exit code says whether all
passed. A separate process per benchmark keeps peak-RSS figures and warm caches independent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
FIRST = ("overhead", "webhook_verify", "replay_memory", "throughput", "webhook_ingress")


def modules() -> list[str]:
    """Every benchmark module: the known ones first, then any other in alphabetical order."""
    found = sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))
    return [m for m in FIRST if m in found] + [m for m in found if m not in FIRST]


def run(name: str) -> bool:
    """Run one benchmark, echo its output, write it to ``results/<name>.txt``."""
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", f"bench.{name}"],
        cwd=HERE.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    ok = proc.wait() == 0
    verdict = "ok" if ok else f"FAILED (exit {proc.returncode})"
    footer = f"-- {name}: {verdict} in {time.perf_counter() - started:.0f} s\n"
    print(footer, flush=True)
    (results / f"{name}.txt").write_text("".join(lines) + footer)
    return ok


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all by default); 0 when every one succeeded."""
    available = modules()
    wanted = argv or available
    unknown = [n for n in wanted if n not in available]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available)}")
        return 2
    outcomes = [run(name) for name in wanted]
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
