"""The Rust CLI as a black box: where it is and how to run it (tests only).

``TOKPACK_BIN``, else ``target/release/tokpack``, else ``target/debug/tokpack``;
tests that need it are skipped when there is none.
"""

import json
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


# -- which reader `tokpack verify` / `tokpack info` use ---------------------------------
#
# A convenience of the CLI, not part of the format: `verify` and `info` take any
# tokpack file and choose the reader by the metadata's "file" key ("plan": the plan
# reader, "overlay": the overlay reader; anything else, no key, or a JSON value that
# is not an object: the dataset reader). Only when the metadata cannot be read (no
# table, no METADATA section, not JSON under 5.4) do they go by the section kinds (5,
# 8, 9 or 10: overlay; 6 or 7: plan; else dataset). A file whose "file" key names
# another kind than the one it is made as is then reported by the reader its key
# names, so CLI-agreement tests compare such deliberately mislabelled files with this
# package's reader of that kind, not with the code the catalogue gives for the file's
# own kind.


def reader_the_cli_picks(data: bytes) -> str:
    """"dataset", "plan" or "overlay": the reader `tokpack verify` / `info` use."""
    import numpy as np

    from tokpack.errors import TokpackError
    from tokpack.format import metadata
    from tokpack.format.header import read_header
    from tokpack.format.section_table import read_table

    raw = np.frombuffer(data, dtype=np.uint8)
    try:
        entries = read_table(raw, read_header(raw, len(raw)))
    except TokpackError:
        return "dataset"
    by_kinds = {e.kind for e in entries}
    by_kinds = ("overlay" if by_kinds & {5, 8, 9, 10} else "plan" if by_kinds & {6, 7}
                else "dataset")
    meta_entry = next((e for e in entries if e.kind == 4), None)
    if meta_entry is None or meta_entry.offset + meta_entry.count > len(raw):
        return by_kinds
    body = bytes(raw[meta_entry.offset : meta_entry.offset + meta_entry.count])
    try:
        meta = metadata.parse(body, meta_entry, check_keys=lambda meta, bad: None)
    except TokpackError:
        try:
            text = body.decode("utf-8")
            if metadata._max_depth(text) > metadata.MAX_DEPTH:
                return by_kinds
            value = json.loads(text)
        except ValueError:
            return by_kinds
        # Valid JSON but not an object: no "file" key. An object refused by 5.4's
        # restrictions (duplicate keys, too deep, ...) cannot be read.
        return by_kinds if isinstance(value, dict) else "dataset"
    file_key = meta.get("file")
    return file_key if file_key in ("plan", "overlay") else "dataset"


def code_of_reader(data: bytes, reader: str):
    """This reader's code for ``data`` opened as ``reader`` ("dataset", "plan" or
    "overlay") and verified, as ``tokpack verify`` does; None when it passes both."""
    import tokpack

    cls = {"dataset": tokpack.Dataset, "plan": tokpack.Plan, "overlay": tokpack.Overlay}[reader]
    try:
        cls.from_buffer(data).verify()
    except tokpack.TokpackError as err:
        return err.code
    return None


def expected_verify_code(data: bytes, made_as: str, code):
    """What ``tokpack verify`` must report for a file made as ``made_as`` whose code by
    the spec is ``code`` (None: valid): ``code`` when the CLI opens it with the reader
    of its own kind, else this reader's code with the reader the "file" key selects."""
    picked = reader_the_cli_picks(data)
    return code if picked == made_as else code_of_reader(data, picked)
