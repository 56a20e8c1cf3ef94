"""Text normalisation applied to every string that ingest writes."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

# Zero-width characters that carry no meaning in a catalog and break exact matching. ZWJ
# and ZWNJ (U+200D, U+200C) stay: emoji sequences and Persian/Indic spelling depend on them.
_REMOVE = ["\u200b", "\u2060", "\ufeff", "\u180e", "\u00ad"]  # the last is a soft hyphen
# C0 controls other than whitespace, and DEL: Postgres rejects NUL, the rest is noise.
_REMOVE += [chr(c) for c in range(0x20) if not chr(c).isspace()] + ["\x7f"]
_TABLE = str.maketrans(dict.fromkeys(_REMOVE))
# Python's \s covers NBSP, narrow NBSP, figure space, CR/LF and tabs: all become one space.
_SPACES = re.compile(r"\s+")


_CONTROL_BYTES = bytes([*range(0x20), 0x7F])


def _is_clean(value: str) -> bool:
    # True when clean_text would change nothing. For ASCII, only controls (tab, CR, LF
    # included) can be unclean: deleting them in C is 2x faster than str.isprintable().
    # Otherwise isprintable() is False for every character clean_text rewrites (NBSP,
    # zero-width, soft hyphen, controls), and NFC is checked.
    if value.isascii():
        printable = len(value.encode().translate(None, _CONTROL_BYTES)) == len(value)
    else:
        printable = value.isprintable() and unicodedata.is_normalized("NFC", value)
    return printable and "  " not in value and value.strip(" ") == value


def all_clean(values: list[str]) -> bool:
    """True when clean_text changes none of the strings (TypeError if one is not a str)."""
    # One check for a whole list (most lists are clean): "|" between the items keeps the
    # double-space and edge-space checks per item; an item holding " |" just fails it.
    joined = "|".join(values)
    return _is_clean(joined) and " |" not in joined and "| " not in joined


def clean_text(value: str) -> str:
    """NFC, zero-width and control characters removed, whitespace (NBSP too) collapsed."""
    if _is_clean(value):
        return value
    value = unicodedata.normalize("NFC", value.translate(_TABLE))
    return _SPACES.sub(" ", value).strip()


def clean_list(values: Iterable[str]) -> list[str]:
    """Each value cleaned; blanks and repeats dropped, first occurrence order kept."""
    items = list(values)
    if all_clean(items) and all(items):
        return list(dict.fromkeys(items)) if len(items) > 1 else items
    return list(dict.fromkeys(c for c in map(clean_text, items) if c))


def split_clean(value: str, sep: str) -> list[str]:
    """A `sep`-separated cell as a clean list (stray separators give no empty entries)."""
    return clean_list(part.strip() for part in value.split(sep)) if value else []


_SCALARS = (int, bool, type(None))


def clean_json(value: Any) -> Any:
    """Strings inside a JSON value cleaned; ValueError on NaN/Infinity or non-JSON types."""
    kind = type(value)
    if kind is str:
        return clean_text(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return _clean_object(value)
    if kind is list or kind is tuple:
        try:
            if all_clean(value):
                return list(value)
        except TypeError:  # not all strings
            pass
        return [clean_json(v) for v in value]
    if kind is float:
        if not math.isfinite(value):
            raise ValueError("NaN and Infinity are not valid JSON")
        return value
    raise ValueError(f"{kind.__name__} is not a JSON type")


def _clean_object(value: dict[Any, Any]) -> dict[str, Any]:
    # Check every key and every string value with two joins before walking item by item.
    keys = list(value)
    try:
        keys_clean = all_clean(keys)
    except TypeError:
        keys_clean = False
    texts = [v for v in value.values() if type(v) is str]
    texts_clean = all_clean(texts)
    out: dict[str, Any] = {}
    for key, item in value.items():
        kind = type(item)
        keep = kind in _SCALARS or (kind is str and texts_clean)
        out[key if keys_clean else clean_text(str(key))] = item if keep else clean_json(item)
    return out
