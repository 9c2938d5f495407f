"""The checks of ``policetwin verify`` in order, at full or quick size, each run in isolation: a check that
crashes is reported as failed with its error, and the others still run."""

from __future__ import annotations

import time
from collections.abc import Callable

from policetwin.verify.record import CheckResult

#: Check key -> title, in the order they run and print.
TITLES = {
    "erlang_c": "Erlang C (M/M/c)",
    "hypercube": "Hypercube workloads",
    "sqrt_law": "Square-root law",
    "weidmann": "Weidmann speed-density",
    "rimea_1": "RiMEA test 1",
    "bottleneck": "Bottleneck flow",
    "gates": "Gate M/M/c (Erlang C)",
    "hawkes": "Hawkes parameter recovery",
}
#: Quick sizes (full sizes are the test suite's): run lengths, layouts and people.
QUICK = {"erlang_c_hours": 12_000.0, "hypercube_hours": 20_000.0, "sqrt_layouts": 6, "gate_people": 100_000,
         "gate_walkers": 10_000}  # fmt: skip


def _helsinki(cache: dict):
    """The bundled Helsinki map, loaded once per verify run."""
    if "helsinki" not in cache:
        from policetwin.maps import load_map

        cache["helsinki"] = load_map("helsinki")
    return cache["helsinki"]


def check_functions(*, quick: bool) -> dict[str, Callable[[], CheckResult]]:
    """Check key -> a function running it at the chosen size."""
    from policetwin.verify import crowd, gates, hawkes, hypercube, queueing, sqrt_law

    cache: dict = {}
    size = QUICK if quick else {}
    return {
        "erlang_c": lambda: queueing.check_erlang_c(
            hours=size.get("erlang_c_hours", queueing.FULL_HOURS), network=_helsinki(cache)
        ),
        "hypercube": lambda: hypercube.check_hypercube(
            hours=size.get("hypercube_hours"), network=_helsinki(cache)
        ),
        "sqrt_law": lambda: sqrt_law.check_sqrt_law(n_layouts=size.get("sqrt_layouts", sqrt_law.N_LAYOUTS)),
        "weidmann": crowd.check_weidmann,
        "rimea_1": crowd.check_rimea_1,
        "bottleneck": crowd.check_bottleneck,
        "gates": lambda: gates.check_gates(
            n_people=size.get("gate_people", 300_000), n_crowd=size.get("gate_walkers", 30_000)
        ),
        "hawkes": hawkes.check_hawkes,
    }


def run_checks(
    *,
    quick: bool = False,
    only: list[str] | None = None,
    on_start: Callable[[str], None] | None = None,
    on_done: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run the checks (``only``: a subset of :data:`TITLES` keys), catching each one's errors."""
    functions = check_functions(quick=quick)
    results = []
    for key in only or list(TITLES):
        if on_start is not None:
            on_start(key)
        start = time.perf_counter()
        try:
            result = functions[key]()
        except Exception as exc:  # a crashed check fails; the others still run
            result = CheckResult(key, TITLES[key], error=f"{type(exc).__name__}: {exc}")
        result.wall_s = time.perf_counter() - start
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results
