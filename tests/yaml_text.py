"""Helpers for tests that edit scenario YAML text and check reported line numbers."""

from __future__ import annotations


def line_of(text: str, needle: str) -> int:
    """1-based number of the one line of ``text`` that is, or else contains, ``needle``."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines, start=1) if line == needle]
    hits = hits or [i for i, line in enumerate(lines, start=1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]


def edit(text: str, old: str, new: str) -> str:
    """Replace the single occurrence of ``old`` (fails loudly if the fixture text changed)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)
