"""METADATA, kind 4 (spec section 5.4): a UTF-8 JSON object, at most 16 MiB."""

import decimal
import json
from typing import Any, Dict

from ..errors import TokpackError
from .section_table import SectionEntry

MAX_METADATA_BYTES = 16 * 1024 * 1024
MAX_VOCAB_SIZE = 2**32
SPECIAL_ID_KEYS = ("bos_id", "eos_id", "pad_id")


def _parse_int(text: str) -> int:
    # Python refuses to convert long digit strings (sys.int_max_str_digits); they are
    # still valid JSON numbers, so go through decimal, which has no such limit.
    try:
        return int(text)
    except ValueError:
        return int(decimal.Decimal(text))


def _refuse_constant(name: str) -> Any:
    # json.loads accepts NaN, Infinity and -Infinity, which RFC 8259 does not.
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def _has_lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _has_lone_surrogates(value: Any) -> bool:
    # Valid UTF-8 cannot hold a surrogate, and json pairs escaped surrogates into one
    # character, so any surrogate left in a decoded string came from a lone escape
    # such as "\\ud800": not a Unicode string. Walked with a stack, not recursion.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _has_lone_surrogate(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _is_int(value: Any) -> bool:
    # JSON true/false decode to bool, a subclass of int; they are not integers here.
    return isinstance(value, int) and not isinstance(value, bool)


def parse(body, entry: SectionEntry) -> Dict[str, Any]:
    """Spec 6.1 step 12 (first half): decode and type-check the metadata."""

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
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_constant=_refuse_constant,
        )
    except (ValueError, RecursionError) as err:
        raise bad(f"not valid JSON: {err}") from None
    if _has_lone_surrogates(value):
        raise bad("not valid JSON: a string escapes a lone UTF-16 surrogate")
    if not isinstance(value, dict):
        raise bad(f"the JSON value is a {type(value).__name__}, not an object")
    check_known_keys(value, bad)
    return value


def check_known_keys(meta: Dict[str, Any], bad) -> None:
    """The key table of 5.4."""
    if "vocab_size" not in meta:
        raise bad("the required key 'vocab_size' is absent")
    vocab_size = meta["vocab_size"]
    if not _is_int(vocab_size) or not 1 <= vocab_size <= MAX_VOCAB_SIZE:
        raise bad(f"'vocab_size' is {vocab_size!r}, not an integer from 1 to {MAX_VOCAB_SIZE}")
    tokenizer = meta.get("tokenizer")
    if tokenizer is not None and not isinstance(tokenizer, str):
        raise bad(f"'tokenizer' is {tokenizer!r}, not a string or null")
    for key in SPECIAL_ID_KEYS:
        special = meta.get(key)
        if special is None:
            continue
        if not _is_int(special) or not 0 <= special < vocab_size:
            raise bad(
                f"{key!r} is {special!r}, not null or an integer from 0 to "
                f"vocab_size - 1 = {vocab_size - 1}"
            )
    if "writer" in meta and not isinstance(meta["writer"], str):
        raise bad(f"'writer' is {meta['writer']!r}, not a string")
