"""``policetwin verify``: the twin's own validation against theory. One module per family of checks
(queueing: Erlang C; hypercube; sqrt_law; crowd: Weidmann, RiMEA 1, bottleneck; gates; hawkes), each with
a ``check_*`` function returning a :class:`CheckResult`; the test suite calls the same functions."""

from policetwin.verify.record import CheckResult, Figure

__all__ = ["CheckResult", "Figure"]
