"""What a replay needs besides the event log: the road network (``nodes.parquet``, ``roads.parquet``) and
every unit movement with its route (``trips.parquet``), so a viewer can place units at any time without
the engine.

During the run the engine logs each trip cheaply (unit, purpose, origin, destination, when it starts,
leaves, would arrive and ended: :meth:`Recorder.new_trip`); the routes are rebuilt here afterwards, from
the shortest-path trees of the destinations (one batched reverse Dijkstra per 256 destinations), with the
time at each node spread over the trip in proportion to road time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse.csgraph import dijkstra

from policetwin.sim.recorder import TRIP_PURPOSES, _strings

if TYPE_CHECKING:
    from policetwin.maps import RoadNetwork
    from policetwin.sim.model import PoliceModel

#: Destinations per batched shortest-path search (memory: this many rows of the network's nodes).
TREE_BATCH = 256


def nodes_frame(network: RoadNetwork, node_district: np.ndarray, station_names: list[str]) -> pd.DataFrame:
    """Every road node: OSM id, WGS84 position and district (the station's name; "" for none)."""
    codes = np.where(node_district >= 0, node_district, len(station_names))
    return pd.DataFrame({"node": network.node_id.astype(np.int64), "lon": network.lon, "lat": network.lat,
                         "district": _strings(codes, [*station_names, ""])})  # fmt: skip


def roads_frame(network: RoadNetwork) -> pd.DataFrame:
    """One row per street segment (a two-way street once): its end nodes' OSM ids and highway class."""
    u, v = network.edge_u.astype(np.int64), network.edge_v.astype(np.int64)
    key = np.minimum(u, v) * network.n_nodes + np.maximum(u, v)
    _, first = np.unique(key, return_index=True)
    first.sort()
    ids = network.node_id.astype(np.int64)
    return pd.DataFrame({"u": ids[u[first]], "v": ids[v[first]],
                         "highway": pd.array(network.highway[first].astype(str), dtype="string")})  # fmt: skip


def _trees(model: PoliceModel, dests: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Successor and time-to-destination arrays of each destination's shortest-path tree."""
    router = model.router
    out = {}
    for i in range(0, dests.size, TREE_BATCH):
        chunk = dests[i : i + TREE_BATCH]
        dist, pred = dijkstra(router.reverse, directed=True, indices=chunk, return_predecessors=True)
        for k, dest in enumerate(chunk.tolist()):
            out[dest] = (pred[k], dist[k])
    return out


def trips_table(model: PoliceModel) -> pa.Table:
    """One row per logged trip, by unit then time: ``trip_id, unit_id, purpose, incident_id, t_start, t_end, route`` (OSM
    node ids) and ``route_t`` (the time the unit is at each route node)."""
    rec = model.recorder
    n = len(rec.tr_unit)
    unit = np.frombuffer(rec.tr_unit, dtype=np.int32) if n else np.zeros(0, np.int32)
    purpose = np.frombuffer(rec.tr_purpose, dtype=np.int8) if n else np.zeros(0, np.int8)
    incident = np.frombuffer(rec.tr_incident, dtype=np.int64) if n else np.zeros(0, np.int64)
    origin = np.frombuffer(rec.tr_origin, dtype=np.int64) if n else np.zeros(0, np.int64)
    dest = np.frombuffer(rec.tr_dest, dtype=np.int64) if n else np.zeros(0, np.int64)
    times = np.frombuffer(rec.tr_times, dtype=float).reshape(-1, 3) if n else np.zeros((0, 3))
    end = np.frombuffer(rec.tr_end, dtype=float).copy() if n else np.zeros(0)
    end = np.where(np.isnan(end), np.minimum(times[:, 2], model.env.now), end)  # under way at the run's end
    order = np.lexsort((times[:, 0], unit))  # by unit, then in time
    unit, purpose, incident, origin, dest, times, end = (a[order] for a in (unit, purpose, incident, origin, dest,
                                                                             times, end))  # fmt: skip
    ids = model.network.node_id.astype(np.int64)
    trees = _trees(model, np.unique(dest)) if model.router is not None and n else {}
    routes, route_t = [], []
    for o, d, (_, depart, arrive) in zip(origin.tolist(), dest.tolist(), times.tolist(), strict=True):
        if model.router is None or o == d:  # instant travel, or no move: straight from origin to destination
            nodes, frac = [o, d] if o != d else [o], np.array([0.0, 1.0] if o != d else [0.0])
        else:
            succ, to_dest = trees[d]
            nodes, node = [o], o
            while node != d and node >= 0 and len(nodes) <= succ.size:
                node = int(succ[node])
                nodes.append(node)
            total = to_dest[o]
            frac = (total - to_dest[nodes]) / total if total > 0 else np.zeros(len(nodes))
        routes.append(ids[nodes])
        route_t.append(depart + frac * (arrive - depart))
    return pa.table({
        "trip_id": pa.array(np.arange(n, dtype=np.int64)),
        "unit_id": pa.array(np.array(model.unit_names, dtype=object)[unit] if n else [], type=pa.string()),
        "purpose": pa.array(np.array(TRIP_PURPOSES, dtype=object)[purpose] if n else [], type=pa.string()),
        "incident_id": pa.array(incident, mask=incident < 0, type=pa.int64()),
        "t_start": pa.array(times[:, 0]),
        "t_end": pa.array(end),
        "route": pa.array(routes, type=pa.list_(pa.int64())),
        "route_t": pa.array(route_t, type=pa.list_(pa.float64())),
    })  # fmt: skip
