"""Demand from real data: read incident tables, fit profile/mix/space/self-excitation, predict and score.

Kept import-light: :mod:`policetwin.scenarios.schema` imports :mod:`policetwin.demandfit.include`.
"""
