"""Shared fixtures: a seeded RNG, tiny hand-built road networks, and the bundled maps (loaded once)."""

from __future__ import annotations

import numpy as np
import pytest

from policetwin.maps import RoadNetwork, build_network, load_map

#: Node spacing of the hand-built networks in degrees of longitude at the equator (~1002 m).
STEP_DEG = 0.009
#: Every edge of the line network is 1000 m at 36 km/h = exactly 100 s (36 / 3.6 == 10.0 in floats).
LINE_EDGE_M = 1000.0
LINE_SPEED_KPH = 36.0
LINE_EDGE_S = 100.0


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator for tests that draw random inputs."""
    return np.random.default_rng(20240601)


def make_line_network(n_nodes: int = 5) -> RoadNetwork:
    """A two-way street 0 - 1 - ... - (n-1) along the equator; every edge takes exactly 100 s.

    Node ids are 100, 101, ... (index i has id 100 + i); node i sits at lon ``i * STEP_DEG``, lat 0,
    so a station placed at a node's lon/lat snaps to that node.
    """
    ids = 100 + np.arange(n_nodes, dtype=np.int64)
    u = np.concatenate([ids[:-1], ids[1:]])
    v = np.concatenate([ids[1:], ids[:-1]])
    return build_network(
        name="line",
        source="hand-built test line",
        node_id=ids,
        lon=np.arange(n_nodes) * STEP_DEG,
        lat=np.zeros(n_nodes),
        edge_u_id=u,
        edge_v_id=v,
        length_m=np.full(u.size, LINE_EDGE_M),
        highway=np.full(u.size, "residential", dtype=object),
        maxspeed_kph=np.full(u.size, LINE_SPEED_KPH),
    )


@pytest.fixture
def line_network() -> RoadNetwork:
    """Five nodes on a two-way line, 100 s per edge (see :func:`make_line_network`)."""
    return make_line_network(5)


@pytest.fixture
def tiny_network() -> RoadNetwork:
    """A handful of nodes near Helsinki with the traps that ``build_network`` must handle.

    ids 1-2-3-4: a two-way square (the largest strongly connected component; 2-3 has 0 m length);
    4 -> 5: a one-way dead end (5 cannot get back); 6 <-> 7: a separate two-way pair (a smaller
    component); 8 -> 1: a one-way entry nobody can reach; 2 -> 2: a self-loop; 3 -> 99: an edge to a
    node that does not exist; 1 -> 2 twice (a parallel edge, slower).
    """
    lon0, lat0 = 24.94, 60.17
    ids = np.array([1, 2, 3, 4, 5, 6, 7, 8], dtype=np.int64)
    offsets = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [-1, 1], [3, 3], [4, 3], [-1, 0]], dtype=float)
    lon = lon0 + offsets[:, 0] * 0.002
    lat = lat0 + offsets[:, 1] * 0.001
    edges = [
        (1, 2, 100.0), (2, 1, 100.0), (2, 3, 0.0), (3, 2, 0.0), (3, 4, 100.0), (4, 3, 100.0),
        (4, 1, 100.0), (1, 4, 100.0), (4, 5, 100.0), (6, 7, 50.0), (7, 6, 50.0), (8, 1, 100.0),
        (2, 2, 10.0), (3, 99, 10.0), (1, 2, 300.0),
    ]  # fmt: skip
    u, v, length = (np.array(col) for col in zip(*edges, strict=True))
    return build_network(
        name="tiny",
        source="hand-built test graph",
        node_id=ids,
        lon=lon,
        lat=lat,
        edge_u_id=u,
        edge_v_id=v,
        length_m=length.astype(float),
        highway=np.full(len(edges), "residential", dtype=object),
        maxspeed_kph=np.full(len(edges), 36.0),
    )


@pytest.fixture(scope="session")
def helsinki_network() -> RoadNetwork:
    """The bundled central Helsinki map, loaded once per session by the current loader (not from the
    on-disk map cache, which may hold a network compiled by older code)."""
    return load_map("helsinki", use_cache=False)


@pytest.fixture(scope="session")
def coquimbo_network() -> RoadNetwork:
    """The bundled Coquimbo–La Serena map (~15.5k nodes), loaded once per session (no disk cache)."""
    return load_map("coquimbo", use_cache=False)
