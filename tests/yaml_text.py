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


#: A small, fast scenario in block style (every field on its own line, for line-number checks); the CLI
#: tests and the corpus of bad scenarios edit it.
SMALL = """\
# PoliceTwin test scenario (central Helsinki, 2 h)
name: small
seed: 3
duration: 2h
map: helsinki
stations:
  - name: Pasila
    lon: 24.9340
    lat: 60.1690
  - name: Kaartinkaupunki
    lon: 24.9500
    lat: 60.1640
units:
  count: 3
demand:
  rate_per_hour: 8
  kinds:
    - name: urgent
      priority: 1
      share: 0.4
      on_scene: {dist: exponential, mean: 20min}
      units: 1
      target: 10min
    - name: routine
      priority: 2
      share: 0.6
      on_scene: {dist: lognormal, mean: 15min, sd: 5min}
      units: 2
      target: 20min
call_handling:
  takers: 2
  handling: {dist: fixed, mean: 60s}
dispatch:
  policy: nearest
outputs:
  report: false
"""
