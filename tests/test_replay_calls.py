"""``demand.replay``: a file's rows become exactly the run's calls (count, times, nodes near the rows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policetwin.errors import PoliceTwinError
from policetwin.maps.snap import Snapper
from policetwin.scenarios import scenario_from_text
from policetwin.sim.demand import make_demand

SCENARIO = """
name: replay
duration: 1d
start: 2024-03-04T00:00
stations: [{{name: a, lon: -71.34, lat: -29.95}}]
units: {{count: 4}}
demand:
  rate_per_hour: 1
  kinds: [{{name: theft, priority: 2, share: 1, target: 20min, on_scene: {{dist: fixed, mean: 600}}}},
          {{name: assault, priority: 1, share: 1, target: 10min, on_scene: {{dist: fixed, mean: 900}}}}]
  replay: {{file: {file}, kinds: {{Robbery: assault}}}}
"""


def _rows(coquimbo_network, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    pick = rng.choice(coquimbo_network.n_nodes, n)
    t = pd.Timestamp("2024-03-04") + pd.to_timedelta(np.sort(rng.random(n)) * 86400 * 1.5, unit="s").round(
        "s"
    )
    return pd.DataFrame({"datetime": t.strftime("%Y-%m-%dT%H:%M:%S"), "lon": coquimbo_network.lon[pick] + 1e-4,
                         "lat": coquimbo_network.lat[pick], "category": rng.choice(["theft", "Robbery"], n)})  # fmt: skip


def test_replay_gives_exactly_the_files_rows(tmp_path: Path, coquimbo_network) -> None:
    rows = _rows(coquimbo_network)
    rows.to_csv(tmp_path / "calls.csv", index=False)
    sc = scenario_from_text(SCENARIO.format(file=tmp_path / "calls.csv"), "sc.yaml")
    batch = make_demand(sc, np.ones(coquimbo_network.n_nodes), network=coquimbo_network).generate(
        duration_s=sc.duration, demand_rng=np.random.default_rng(0), service_rng=np.random.default_rng(1)
    )
    t_rows = (pd.to_datetime(rows["datetime"]) - pd.Timestamp("2024-03-04")).dt.total_seconds().to_numpy()
    inside = t_rows < 86400
    assert len(batch) == inside.sum() and batch.source == "replay"
    assert np.allclose(batch.t_call, t_rows[inside])
    kinds = np.where(rows["category"][inside] == "Robbery", 1, 0)
    assert np.array_equal(batch.kind, kinds)
    node, dist = Snapper(coquimbo_network).nearest(
        rows["lon"][inside].to_numpy(), rows["lat"][inside].to_numpy()
    )
    assert np.array_equal(batch.node, node) and dist.max() < 50


def test_unmapped_categories_and_unknown_kinds_are_errors(tmp_path: Path, coquimbo_network) -> None:
    rows = _rows(coquimbo_network)
    rows.loc[3, "category"] = "Arson"
    rows.to_csv(tmp_path / "calls.csv", index=False)
    sc = scenario_from_text(SCENARIO.format(file=tmp_path / "calls.csv"), "sc.yaml")
    with pytest.raises(PoliceTwinError, match="categories with no kind: 'Arson'"):
        make_demand(sc, np.ones(coquimbo_network.n_nodes), network=coquimbo_network).generate(
            duration_s=sc.duration, demand_rng=np.random.default_rng(0), service_rng=np.random.default_rng(1)
        )
    bad = SCENARIO.format(file="x.csv").replace("Robbery: assault", "Robbery: assalt")
    with pytest.raises(PoliceTwinError, match=r"demand.replay.kinds.Robbery: unknown kind 'assalt'"):
        scenario_from_text(bad, "sc.yaml")
