"""
Every ```python block of README.md runs as written, each in a fresh interpreter.

A block runs in a temporary working directory with no ``PORTICO_*`` variables, so it sees
Portico's defaults (the fake environment) and leaves no file in the worktree. Top-level ``await``
is allowed (the block is compiled with ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`` and run by
``asyncio.run``), and a block that defines ``test_*`` functions has each of them called (awaited
when async), as pytest would, so a test-style snippet is proved too. Tracebacks point at the
README's own line numbers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPET_TIMEOUT = 60  # seconds for one block
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

# Runs in the child: argv[1] is the block (padded so line numbers are the README's).
_RUNNER = """
import ast, asyncio, inspect, sys

source = open(sys.argv[1], encoding="utf-8").read()
code = compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
namespace = {"__name__": "__main__"}
if code.co_flags & inspect.CO_COROUTINE:
    asyncio.run(eval(code, namespace))
else:
    exec(code, namespace)
for name, test in list(namespace.items()):
    if name.startswith("test_") and callable(test):
        outcome = test()
        if inspect.iscoroutine(outcome):
            asyncio.run(outcome)
        print(f"ran {name}")
"""


def _blocks() -> list[tuple[int, str]]:
    """(first line number, code) of each ```python block."""
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in _BLOCK.finditer(text)
    ]


BLOCKS = _blocks()


def test_the_readme_has_python_blocks() -> None:
    """The harness finds the README's snippets (a changed fence would silently skip them)."""
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_readme_block_runs(line: int, code: str, tmp_path: Path) -> None:
    """The block runs to the end in a fresh interpreter, without an exception."""
    snippet = tmp_path / "snippet.py"
    snippet.write_text("\n" * (line - 1) + code, encoding="utf-8")
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(snippet)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=SNIPPET_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"README.md block at line {line} failed:\n{done.stderr}"
    for name in re.findall(r"^(?:async )?def (test_\w+)", code, re.MULTILINE):
        assert f"ran {name}" in done.stdout, f"{name} was defined but not run"
