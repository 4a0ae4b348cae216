"""The Rust CLI as a black box: where it is and how to run it (tests only).

``TOKPACK_BIN``, else ``target/release/tokpack``, else ``target/debug/tokpack``;
tests that need it are skipped when there is none.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def find_binary():
    candidates = []
    if os.environ.get("TOKPACK_BIN"):
        candidates.append(Path(os.environ["TOKPACK_BIN"]))
    candidates += [REPO / "target" / "release" / "tokpack", REPO / "target" / "debug" / "tokpack"]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


BINARY = find_binary()
needs_cli = pytest.mark.skipif(
    BINARY is None,
    reason="no tokpack CLI: set TOKPACK_BIN or run `cargo build --release` in "
    f"{REPO} (looked for target/release/tokpack and target/debug/tokpack)",
)


def cli(*args, check=True):
    result = subprocess.run(
        [str(BINARY), *map(str, args)], capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"`tokpack {' '.join(map(str, args))}` exited {result.returncode}:\n"
            f"{result.stderr}{result.stdout}"
        )
    return result


def error_code(result):
    """The CLI ends its error line with "[code]"; None when it does not."""
    found = re.search(r"\[(\w+)\]\s*$", result.stderr)
    return found.group(1) if found else None
