"""The Dash front end (``policetwin dashboard``): Run, Replay, KPIs and Compare pages in English and
Chinese. It reads run and sweep directories only; runs are started through the ``policetwin run`` CLI."""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(*args, **kwargs):
    """Build the Dash app (see :func:`policetwin.dashboard.app.create_app`)."""
    from policetwin.dashboard.app import create_app as _create

    return _create(*args, **kwargs)
