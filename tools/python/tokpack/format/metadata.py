"""METADATA, kind 4 (spec section 5.4): a UTF-8 JSON object, restricted so that
readers in every language accept exactly the same texts.

The restrictions of 5.4, and where this module enforces them:

- at most 16 MiB: checked on the section's ``count`` before anything is read;
- nesting at most 64 deep (top-level object = depth 1): :func:`_max_depth`, a scan
  of the text before parsing, so that no parser ever recurses deeper;
- no key twice in one object: the ``object_pairs_hook`` of ``json.loads``;
- no lone surrogate escapes: a pass over the decoded strings (Python's ``json``
  decodes ``"\\ud800"`` into a lone surrogate, which UTF-8 cannot encode);
- every number finite as an IEEE-754 double, converted by correct rounding: the
  ``parse_float``, ``parse_int`` and ``parse_constant`` hooks (``1e400``, integers from
  2**1024 - 2**970 up, ``NaN``); Python's ``float`` of a decimal string or of an ``int``
  rounds correctly (to nearest, ties to even);
- numbers given to the user as 5.4 says: integers in [-2**63, 2**64) as exact ``int``,
  every other number as its correctly rounded ``float`` (``parse_int`` does both);
- ``-0``, the one exception, given as the double ``-0.0`` (5.4, version 1.1);
- the integer keys of the key table written as plain JSON integers (digits only):
  a fraction or exponent makes a ``float`` (refused by type), and a signed literal
  (``-0`` included) is tagged by ``parse_int`` so that the key check can refuse it
  and name the sign.

:func:`parse` does the JSON part, the same for every tokpack file, then runs a key
check: :func:`check_known_keys` (the key table of 5.4, dataset files) or the plan
file's (11.1, ``tokpack/format/plan_metadata.py``).
"""

import json
import math
import re
from typing import Any, Dict

import numpy as np

from ..errors import TokpackError
from .section_table import SectionEntry

MAX_METADATA_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_VOCAB_SIZE = 2**32
SPECIAL_ID_KEYS = ("bos_id", "eos_id", "pad_id")
#: The ``file`` key (5.4, version 1.1): absent or "dataset" in a dataset file,
#: "plan" in a plan file (11.1), "overlay" in an overlay file (13, version 1.2).
FILE_KEY = "file"
FILE_DATASET = "dataset"
FILE_PLAN = "plan"
FILE_OVERLAY = "overlay"
#: Optional string keys of the key table; absent and null both mean "not known".
STRING_KEYS = ("tokenizer", "writer")
#: The ``sources`` key (5.4, version 1.3): 1 to 65,536 names, each 1 to 256 bytes
#: of UTF-8, no two equal.
SOURCES_KEY = "sources"
MAX_SOURCES = 65536
MAX_SOURCE_NAME_BYTES = 256
#: The largest finite double has 309 integer digits; any integer with more overflows.
_MAX_FINITE_DIGITS = 309
#: Integers in [_INT_MIN, _INT_END) are given exactly, others as doubles (5.4).
_INT_MIN, _INT_END = -(2**63), 2**64

# A JSON string literal (the unrolled form, linear without backtracking).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN, _CLOSE = (ord("["), ord("{")), (ord("]"), ord("}"))


class _BadJson(ValueError):
    """Raised from inside the ``json`` hooks; becomes ``bad_metadata``."""


class _SignedInt(int):
    """An integer written with a minus sign. Only the key check sees this type;
    :func:`_untag_and_check_strings` turns it back into ``int``."""


class _MinusZero(float):
    """The literal ``-0``, which 5.4 gives as the double ``-0.0``. Only the key check
    sees this type (to say that the value was written with a sign);
    :func:`_untag_and_check_strings` turns it into a plain ``float``."""


def _parse_int(text: str):
    """A JSON integer literal. Spec 5.4: integers in [-2**63, 2**64) are given exactly,
    every other one as its correctly rounded double (``float(int)`` rounds to nearest,
    ties to even, in CPython), which must be finite; ``-0`` is the double ``-0.0``."""
    if text == "-0":
        return _MinusZero(-0.0)
    if len(text) < 20:  # at most 19 digits: below 10**19 < 2**64, and -10**18 > -2**63
        return _SignedInt(text) if text[0] == "-" else int(text)
    digits = text[1:] if text[0] == "-" else text
    if len(digits) > _MAX_FINITE_DIGITS:
        raise _BadJson(f"the integer {text[:20]}... ({len(digits)} digits) is not finite "
                       f"as a double")
    value = int(text)  # at most 310 characters: under Python's int_max_str_digits
    if _INT_MIN <= value < _INT_END:
        return _SignedInt(value) if value < 0 else value
    try:
        return float(value)  # rounds to nearest, ties to even; overflows past DBL_MAX
    except OverflowError:
        raise _BadJson(f"the integer {text[:20]}... is not finite as a double") from None


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise _BadJson(f"the number {shown} is not finite as a double")
    return value


def _refuse_constant(name: str) -> Any:
    # json.loads accepts NaN, Infinity and -Infinity, which RFC 8259 does not.
    raise _BadJson(f"{name} is not JSON (RFC 8259)")


def _object(pairs) -> Dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _BadJson(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return obj


def _max_depth(text: str) -> int:
    """How deep arrays and objects nest (the top-level value is depth 1).

    Exact for valid JSON; for invalid JSON the number is meaningless but the parser
    refuses the text anyway. Cheap when the text cannot nest deeper than the limit.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0
    structure = _STRING.sub("", text).encode("utf-8")
    arr = np.frombuffer(structure, dtype=np.uint8)
    brackets = arr[np.isin(arr, _OPEN + _CLOSE)]
    steps = np.where(np.isin(brackets, _OPEN), 1, -1).astype(np.int64)
    return int(np.cumsum(steps).max()) if len(steps) else 0


#: A ``\\u`` escape of a UTF-16 surrogate (D800 to DFFF) somewhere in the text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
#: Where a negative number may start.
_MINUS_DIGIT = re.compile(r"-[0-9]")


def _untag_and_check_strings(value: Any, check_strings: bool) -> None:
    """Turns ``_SignedInt`` back into ``int`` in place and, when ``check_strings``,
    refuses lone surrogates in keys and strings. Walked with a stack, not recursion."""

    def check(s: str) -> None:
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise _BadJson("a string escapes a lone UTF-16 surrogate") from None

    stack = [value]
    while stack:
        item = stack.pop()
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in children:
            if check_strings and isinstance(key, str):
                check(key)
            if type(child) is _SignedInt:
                item[key] = int(child)
            elif type(child) is _MinusZero:
                item[key] = float(child)
            elif isinstance(child, (dict, list)):
                stack.append(child)
            elif check_strings and isinstance(child, str):
                check(child)


def _is_plain_int(value: Any) -> bool:
    # Digits only: not bool (a subclass of int), not float (fraction or exponent,
    # or "-0"), not _SignedInt (a minus sign).
    return type(value) is int


def parse(body, entry: SectionEntry, check_keys=None) -> Dict[str, Any]:
    """Spec 6.1 step 12 (first half): decode and check the metadata. Returns the
    object as stored: every key, user keys and null values included; integers outside
    [-2**63, 2**64) as correctly rounded floats and ``-0`` as ``-0.0`` (5.4).

    ``check_keys(meta, bad)`` checks the known keys (default :func:`check_known_keys`,
    the dataset file's table); it sees signed literals still tagged, and raises
    ``bad(detail)``."""
    if check_keys is None:
        check_keys = check_known_keys

    def bad(detail: str) -> TokpackError:
        return TokpackError("bad_metadata", detail, section="metadata", offset=entry.offset)

    if entry.count > MAX_METADATA_BYTES:
        raise bad(f"{entry.count} bytes, more than the {MAX_METADATA_BYTES} allowed")
    data = bytes(body)
    if data.startswith(b"\xef\xbb\xbf"):
        raise bad("starts with a byte-order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise bad(f"not valid UTF-8 at byte {entry.offset + err.start}") from None
    depth = _max_depth(text)
    if depth > MAX_DEPTH:
        raise bad(f"arrays and objects nest {depth} deep, more than {MAX_DEPTH}")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
        )
    except _BadJson as err:
        raise bad(str(err)) from None
    except (ValueError, RecursionError) as err:
        raise bad(f"not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise bad(f"the JSON value is a {type(value).__name__}, not an object")
    check_keys(value, bad)
    # Python's json decodes a lone "\\ud800" into a lone surrogate; valid UTF-8
    # cannot hold one, so without such an escape in the text there is none to find.
    # Likewise no _SignedInt or _MinusZero without a minus sign before a digit. The
    # walk is skipped when there is nothing for it to do.
    check_strings = bool(_SURROGATE_ESCAPE.search(text))
    if check_strings or _MINUS_DIGIT.search(text):
        try:
            _untag_and_check_strings(value, check_strings)
        except _BadJson as err:
            raise bad(str(err)) from None
    return value


def check_known_keys(meta: Dict[str, Any], bad) -> None:
    """The key table of 5.4 for a dataset file. An absent optional key and a null
    one both mean "not known", so both pass; ``file`` is absent or ``"dataset"``."""
    if FILE_KEY in meta and meta[FILE_KEY] != FILE_DATASET:
        raise bad(
            f"'file' is {_shown(meta[FILE_KEY])}: a dataset file has no 'file' key or "
            f"'file': 'dataset'"
            + (" (this is a plan file: open it with tokpack.open_plan)"
               if meta[FILE_KEY] == FILE_PLAN else "")
            + (" (this is an overlay file: open it with tokpack.open_overlay)"
               if meta[FILE_KEY] == FILE_OVERLAY else "")
        )
    check_key_table(meta, bad, vocab_required=True)
    check_sources(meta, bad)


def check_sources(meta: Dict[str, Any], bad) -> None:
    """5.4's ``sources`` key (dataset files, version 1.3): absent or null ("not
    known", like every optional key), else an array of 1 to 65,536 strings, each
    non-empty and at most 256 bytes of UTF-8, no two equal (compared after
    unescaping, as Python strings: no Unicode normalisation). Whether it goes with a
    DOC_SOURCES section is 6.1 step 13, checked by the dataset reader."""
    names = meta.get(SOURCES_KEY)
    if names is None:
        return
    if not isinstance(names, list):
        raise bad(f"'sources' is {_shown(names)}, not an array of source names")
    if not 1 <= len(names) <= MAX_SOURCES:
        raise bad(f"'sources' holds {len(names)} names, not 1 to {MAX_SOURCES}")
    seen = {}
    for k, name in enumerate(names):
        if not isinstance(name, str):
            raise bad(f"sources[{k}] is {_shown(name)}, not a string")
        # A lone surrogate is refused later with the other strings (5.4); count
        # its bytes as UTF-8 would if it were allowed.
        size = len(name.encode("utf-8", "surrogatepass"))
        if not 1 <= size <= MAX_SOURCE_NAME_BYTES:
            raise bad(
                f"sources[{k}] is {size} bytes of UTF-8, not 1 to "
                f"{MAX_SOURCE_NAME_BYTES}"
            )
        if name in seen:
            raise bad(f"sources[{k}] {_shown(name)} is also sources[{seen[name]}]")
        seen[name] = k


def check_key_table(meta: Dict[str, Any], bad, vocab_required: bool) -> None:
    """The types of 5.4's keys ``vocab_size``, ``tokenizer``, ``writer``, ``bos_id``,
    ``eos_id``, ``pad_id`` (dataset files; ``vocab_required=False`` checks the special
    ids against ``vocab_size`` only when it is there)."""
    vocab_size = meta.get("vocab_size")
    if "vocab_size" not in meta and vocab_required:
        raise bad("the required key 'vocab_size' is absent")
    if "vocab_size" in meta and (
        not _is_plain_int(vocab_size) or not 1 <= vocab_size <= MAX_VOCAB_SIZE
    ):
        raise bad(
            f"'vocab_size' is {_shown(vocab_size)}, not a plain JSON integer from 1 to "
            f"{MAX_VOCAB_SIZE}"
        )
    for key in STRING_KEYS:
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise bad(f"{key!r} is {_shown(value)}, not a string or null")
    for key in SPECIAL_ID_KEYS:
        special = meta.get(key)
        if special is None:
            continue
        if vocab_size is None:
            if not _is_plain_int(special) or special >= MAX_VOCAB_SIZE:
                raise bad(
                    f"{key!r} is {_shown(special)}, not null or a plain JSON integer "
                    f"below {MAX_VOCAB_SIZE}"
                )
        elif not _is_plain_int(special) or not special < vocab_size:
            raise bad(
                f"{key!r} is {_shown(special)}, not null or a plain JSON integer from 0 "
                f"to vocab_size - 1 = {vocab_size - 1}"
            )


def check_writer(meta: Dict[str, Any], bad) -> None:
    """Plan and overlay files (11.1, 13.1): of 5.4's top-level keys only ``file`` and
    ``writer`` apply; ``writer`` is a string or null."""
    writer = meta.get("writer")
    if writer is not None and not isinstance(writer, str):
        raise bad(f"'writer' is {_shown(writer)}, not a string or null")


def is_plain_int(value: Any) -> bool:
    """A JSON integer written with digits only, below 2**64 (5.4's integer rule)."""
    return _is_plain_int(value)


def shown(value: Any) -> str:
    """A value for an error message, saying when it was written with a sign."""
    return _shown(value)


def _shown(value: Any) -> str:
    if type(value) is _SignedInt:
        return f"{int(value)} (written with a sign)"
    if type(value) is _MinusZero:
        return "-0 (written with a sign)"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."
