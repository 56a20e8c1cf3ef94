"""Text normalisation: NBSP, zero-width and soft hyphens, whitespace, NFC, JSON values."""

from __future__ import annotations

import pytest

from db.ingest.text import clean_json, clean_list, clean_text, split_clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Dick Johnson Is Dead", "Dick Johnson Is Dead"),
        ("Legend\u00a0of\u00a0Exorcism", "Legend of Exorcism"),  # NBSP (netflix s622)
        ("Consequences\u00a0", "Consequences"),  # trailing NBSP (netflix s6530)
        ("\u200bSAINT SEIYA", "SAINT SEIYA"),  # zero-width space (netflix s2999)
        ("\u200b\u200bKuch Bheege Alfaaz", "Kuch Bheege Alfaaz"),
        ("co\u00adoperate", "cooperate"),  # soft hyphen (tmdb 82631)
        ("\ufeffBOM", "BOM"),
        ("line one\r\nline  two\rthree\tfour", "line one line two three four"),
        ("  padded  ", "padded"),
        ("nul\x00byte", "nulbyte"),
        ("cafe\u0301", "caf\u00e9"),  # NFC
        ("emoji \U0001f468\u200d\U0001f469", "emoji \U0001f468\u200d\U0001f469"),  # ZWJ kept
        ("", ""),
        ("\u200b", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_clean_text_leaves_clean_text_identical() -> None:
    text = "Caf\u00e9 con leche: a plain, printable sentence."
    assert clean_text(text) is text


def test_clean_list_drops_blanks_and_repeats_keeping_order() -> None:
    assert clean_list(["b", " a ", "", "b", "\u200b", "a"]) == ["b", "a"]
    assert clean_list(["x"]) == ["x"]
    assert clean_list([]) == []


def test_split_clean_handles_stray_separators() -> None:
    assert split_clean(", South Korea", ",") == ["South Korea"]
    assert split_clean("United Kingdom,", ",") == ["United Kingdom"]
    assert split_clean("a| b |c", "|") == ["a", "b", "c"]
    assert split_clean("", ",") == []


def test_clean_json_cleans_nested_strings_and_keeps_structure() -> None:
    value = {"k\u00a0ey": ["a\u200b", "", "a"], "n": {"s": " x "}, "i": 3, "f": 1.5, "b": None}
    assert clean_json(value) == {
        "k ey": ["a", "", "a"],
        "n": {"s": "x"},
        "i": 3,
        "f": 1.5,
        "b": None,
    }


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {"a": [float("-inf")]}, {1, 2}])
def test_clean_json_refuses_what_jsonb_cannot_hold(bad: object) -> None:
    with pytest.raises(ValueError):
        clean_json(bad)
