"""The event inside a police run: its crowd on the shared clock, crowd incidents as calls, event police
in the same dispatch, road closures in the drive network, and the event's outputs.

- The crowd (:class:`policetwin.event.EventCrowd`) steps as one simpy process until it is done or the
  run's end (``duration``): people still out then are counted in the summary's census.
- Crowd incidents (``event.incidents``): every :data:`INCIDENT_EVERY_S` each kind happens as a Poisson
  draw at ``rate x people present / 10,000 / h``, at a random present person (walking, queued or
  inside); crush-risk alerts when a walk link stays at or above the threshold for ``hold``. Each
  becomes a call (``source: crowd``) at the road node nearest to it, answered by the same call-takers
  and dispatched by the same dispatcher. Draws come from the ``event-incidents`` stream.
- With event police, crowd calls go to event units only and routine calls to city units only (the
  dispatcher's per-kind unit masks), so what the event takes from the city is explicit.
- Road closures (``event.road_closures``) hold for the whole run: closed edges are driven at the
  closure's ``speed_kph``. Timed ones (``interventions`` ``close_roads`` / ``open_roads``) switch the
  router while they hold (:mod:`policetwin.sim.timed_roads`).
- Officers on foot answering crowd calls walk at the crowd's pace (:mod:`policetwin.event.foot`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from policetwin.errors import MapError, ScenarioError
from policetwin.event.crowd import EDGE, INSIDE, QUEUE
from policetwin.event.engine import EventCrowd
from policetwin.event.foot import FOOT_ROLES, FootEtas
from policetwin.event.police import EVENT_CAPABILITY, event_unit_mask
from policetwin.event.walknet import load_walk_network
from policetwin.scenarios.schema import IncidentKind, Scenario
from policetwin.sim.demand import Draws
from policetwin.sim.timed_roads import TimedRoads, closure_areas, slowed_times

if TYPE_CHECKING:
    from policetwin.maps.network import RoadNetwork
    from policetwin.sim.model import PoliceModel

#: How often (s) crowd incidents are drawn.
INCIDENT_EVERY_S = 10.0
CROWD_SOURCE = "crowd"
CRUSH_KIND = "crush_risk"


def closed_road_times(scenario: Scenario, network: RoadNetwork, times_s: np.ndarray) -> np.ndarray:
    """Travel times with ``event.road_closures`` applied: an edge with an end inside a closure is
    driven at the closure's ``speed_kph`` (if that is slower). The same times for the whole run."""
    event = scenario.event
    if event is None or not event.road_closures:
        return times_s
    areas = closure_areas(scenario, network, event.road_closures)
    return slowed_times(network, times_s, areas, [c.speed_kph for c in event.road_closures])


def check_venue_on_map(scenario: Scenario, snapper, *, filename: str) -> None:
    """ScenarioError when the venue is off the road map (before its police posts would be reported)."""
    from policetwin.sim.checks import venue_off_map

    problems = venue_off_map(scenario, snapper, filename=filename)
    if problems:
        raise ScenarioError(problems)


def crowd_kinds(scenario: Scenario) -> list[IncidentKind]:
    """The crowd incident kinds as incident kinds (appended after the demand's kinds); with event police
    they require the ``event`` capability."""
    spec = scenario.event.incidents if scenario.event is not None else None
    if spec is None:
        return []
    require = EVENT_CAPABILITY if scenario.event.police else None
    kinds = [IncidentKind(name=f"crowd-{k.name}", priority=k.priority, share=0.0, on_scene=k.on_scene,
                          units=k.units, target=k.target, require=require) for k in spec.kinds]  # fmt: skip
    if spec.crush is not None:
        c = spec.crush
        kinds.append(IncidentKind(name=f"crowd-{CRUSH_KIND}", priority=c.priority, share=0.0,
                                  on_scene=c.on_scene, units=c.units, target=c.target, require=require))  # fmt: skip
    return kinds


class EventGlue:
    """One event in one police run (see the module docstring)."""

    def __init__(self, model: PoliceModel, *, filename: str, base_dir: Path | None = None) -> None:
        scenario = model.scenario
        self.model, self.event = model, scenario.event
        try:
            walk = load_walk_network(scenario.map, base_dir=base_dir)
        except MapError as exc:
            raise ScenarioError([f"{filename}:0: map: {exc}"]) from None
        try:
            self.crowd = EventCrowd(
                self.event, walk, rng=model.stream("event"), scenario_start=scenario.start
            )
        except ScenarioError as exc:
            raise ScenarioError([f"{filename}:0: {p}" for p in exc.problems]) from None
        net = self.crowd.layout.network
        self.walk_to_road, _ = model.snapper.nearest(net.lon, net.lat)
        self.first_kind = len(scenario.demand.kinds)
        self.rng = model.stream("event-incidents")
        self.handling = Draws(scenario.call_handling.handling, self.rng)
        spec = self.event.incidents
        self.kind_specs = list(spec.kinds) if spec is not None else []
        self.crush = spec.crush if spec is not None else None
        self.on_scene = [Draws(k.on_scene, self.rng) for k in self.kind_specs]
        self.crush_on_scene = Draws(self.crush.on_scene, self.rng) if self.crush else None
        self._next_draw_s = 0.0
        n_links = net.n_links
        self._above_since = np.full(n_links, np.nan)
        self._node_alert_s = np.full(net.n_nodes, -np.inf)  # last crush alert touching each walk node
        self.calls: list[dict] = []  # crowd incidents made calls (for the report)
        if spec is not None:
            self.crowd.crowd.on_step.append(self._on_step)
        self.foot = self._foot_etas()
        self.timed_roads = self._timed_roads()

    def _timed_roads(self) -> TimedRoads | None:
        """Timed road closures (:mod:`policetwin.sim.timed_roads`), if any (and travel is not instant)."""
        model, scenario = self.model, self.model.scenario
        if model.router is None or not any(s.action == "close_roads" for s in self.event.interventions):
            return None
        times = model.network.travel_times_s(
            overrides_kph=scenario.travel.speeds_kph, speed_factor=scenario.travel.speed_factor
        )
        return TimedRoads(model, base_times_s=closed_road_times(scenario, model.network, times))

    def _foot_etas(self) -> FootEtas | None:
        """Officers on foot timed on the walk network for crowd calls (:mod:`policetwin.event.foot`):
        hooked into the ETAs and the fleet only when the event has foot police and travel is not instant."""
        model = self.model
        event_units = event_unit_mask(model.scenario, len(model.units))
        foot = event_units & np.array(
            [bool(u.capabilities & set(FOOT_ROLES)) for u in model.units], dtype=bool
        )
        if model.router is None or not foot.any():
            return None
        crowd = self.crowd.crowd
        hook = FootEtas(model, self.crowd.layout.network, foot=foot,
                        density_p_m2=lambda: crowd.link_counts() / crowd.area_m2)  # fmt: skip
        model.etas.override, model.fleet.on_foot = hook, foot
        return hook

    def wire_dispatch(self, dispatcher) -> None:
        """With event police: crowd calls to event units only, routine calls to city units only."""
        event_units = event_unit_mask(self.model.scenario, len(self.model.units))
        if not event_units.any():
            return
        capable = dispatcher.capable
        for k in range(self.first_kind):
            capable[k] = ~event_units if capable[k] is None else capable[k] & ~event_units
        dispatcher._requirements = True

    def start(self, env) -> None:
        """Start the crowd on the run's clock (it stops when done or at the run's end)."""
        self.crowd.start(env, until_s=self.model.scenario.duration)
        if self.timed_roads is not None:
            env.process(self.timed_roads.process(env))

    # -- crowd incidents ------------------------------------------------------------------------
    def _on_step(self, crowd) -> None:
        if self.crush is not None:
            self._crush_alerts(crowd)
        if crowd.now + 1e-9 < self._next_draw_s:
            return
        dt = INCIDENT_EVERY_S if self._next_draw_s > 0 else crowd.now
        self._next_draw_s = crowd.now + INCIDENT_EVERY_S
        census = crowd.census()
        present = int(census[EDGE] + census[QUEUE] + census[INSIDE])
        if present == 0 or not self.kind_specs:
            return
        rates = np.array([k.rate_per_10k_per_hour for k in self.kind_specs]) * present / 1e4 / 3600.0
        counts = self.rng.poisson(rates * dt)
        if not counts.any():
            return
        pids = np.flatnonzero((crowd.state == EDGE) | (crowd.state == QUEUE) | (crowd.state == INSIDE))
        for k, n in enumerate(counts.tolist()):
            for pid in self.rng.choice(pids, size=n).tolist():
                edge = int(crowd.edge[pid])
                node = int(crowd.edge_v[edge]) if edge >= 0 else int(crowd.node[pid])
                self._call(self.first_kind + k, node, self.on_scene[k].next(), self.kind_specs[k].name,
                           link=edge >> 1 if edge >= 0 else -1)  # fmt: skip

    def _crush_alerts(self, crowd) -> None:
        rho = crowd.link_counts() / crowd.area_m2
        above = rho >= self.crush.density_p_m2
        since = self._above_since
        since[~above] = np.nan
        since[above & np.isnan(since)] = crowd.now
        net, last, cooldown = crowd.net, self._node_alert_s, self.crush.cooldown
        quiet = np.maximum(last[net.link_u], last[net.link_v]) <= crowd.now - cooldown
        for link in np.flatnonzero(above & quiet & (crowd.now - since >= self.crush.hold - 1e-9)).tolist():
            u, v = int(net.link_u[link]), int(net.link_v[link])
            if max(last[u], last[v]) > crowd.now - cooldown:  # a neighbour alerted in this very step
                continue
            last[u] = last[v] = crowd.now
            self._call(self.first_kind + len(self.kind_specs), int(net.link_u[link]), self.crush_on_scene.next(),
                       CRUSH_KIND, link=link, density=float(rho[link]))  # fmt: skip

    def _call(self, kind: int, walk_node: int, on_scene_s: float, name: str, *, link: int,
              density: float | None = None) -> None:  # fmt: skip
        net = self.crowd.layout.network
        if self.foot is not None:  # where officers on foot walk to
            self.foot.call_walk[int(self.walk_to_road[walk_node])] = walk_node
        incident = self.model.submit_call(kind=kind, node=int(self.walk_to_road[walk_node]),
                                          handling_s=self.handling.next(), on_scene_s=on_scene_s,
                                          source=CROWD_SOURCE)  # fmt: skip
        self.calls.append({"incident_id": incident.row, "t_s": float(self.model.env.now), "kind": name,
                           "walk_link": link, "lon": float(net.lon[walk_node]), "lat": float(net.lat[walk_node]),
                           "density_p_m2": density})  # fmt: skip

    # -- outputs --------------------------------------------------------------------------------
    def crowd_table(self) -> pd.DataFrame:
        """``crowd.parquet``."""
        return self.crowd.crowd_table()

    def gate_table(self) -> pd.DataFrame:
        """``gates.parquet``."""
        return self.crowd.gate_table()

    def links_table(self) -> pd.DataFrame:
        """``walk_links.parquet``: each walk link (``edge`` in crowd.parquet) with its ends and size."""
        net = self.crowd.layout.network
        u, v = net.link_u, net.link_v
        return pd.DataFrame({"edge": np.arange(net.n_links, dtype=np.int32), "lon_u": net.lon[u], "lat_u": net.lat[u],
                             "lon_v": net.lon[v], "lat_v": net.lat[v], "length_m": net.length_m,
                             "width_m": net.width_m, "highway": net.highway.astype(str)})  # fmt: skip

    def summary(self) -> dict:
        """The ``event`` block of ``summary.json``: the crowd's, plus police, incidents and closures."""
        out = self.crowd.summary()
        event, scenario = self.event, self.model.scenario
        out["name"] = event.name
        out["police"] = {f"event-{p.name}": {"role": p.role, "count": p.count, "drawn_from": p.drawn_from}
                         for p in event.police}  # fmt: skip
        kinds = [c["kind"] for c in self.calls]
        out["crowd_calls"] = {name: kinds.count(name) for name in dict.fromkeys(kinds)}
        out["road_closures"] = {"edges": int(np.sum(self.model.closed_edges)) if self.model.closed_edges is not None
                                else 0, "whole_run": True,
                                "timed": self.timed_roads.log if self.timed_roads is not None else []}  # fmt: skip
        out["ran_until_s"] = float(self.crowd.crowd.now)
        out["duration_s"] = float(scenario.duration)
        out["geometry"] = self.geometry()
        return out

    def geometry(self) -> dict:
        """Venue and ring outlines (lon/lat, 6 decimals) and gates (where they sit on the walk network) for
        the dashboard's map: ``{"venue": [[lon, lat], ...], "rings": [{"name", "outline"}], "gates": [...]}``."""
        lay = self.crowd.layout
        net = lay.network

        def outline(shape: shapely.Geometry) -> list[list[float]]:
            xy = shapely.get_coordinates(shape.exterior if hasattr(shape, "exterior") else shape.boundary)
            lon, lat = net.to_lonlat(xy[:, 0], xy[:, 1])
            return np.round(np.column_stack([lon, lat]), 6).tolist()

        snapped = lay.gate_nodes.size == len(self.event.gates)
        gates = [{"name": g.name, "ring": g.ring, "lanes": g.lanes,
                  "lon": round(float(net.lon[lay.gate_nodes[i]]) if snapped else g.lon, 6),
                  "lat": round(float(net.lat[lay.gate_nodes[i]]) if snapped else g.lat, 6)}
                 for i, g in enumerate(self.event.gates)]  # fmt: skip
        pairs = zip(self.event.rings, lay.rings, strict=True)
        rings = [{"name": r.name, "outline": outline(shape)} for r, shape in pairs]
        return {"venue": outline(lay.venue), "rings": rings, "gates": gates}

    def report_data(self) -> dict:
        """What the report's event sections draw (in memory; tables as written to the run directory)."""
        lay, rec = self.crowd.layout, self.crowd.crowd.recorder
        net = lay.network
        back = net.to_lonlat
        shapes = [*lay.rings, lay.venue]
        outlines = []
        for shape in shapes:
            xy = shapely.get_coordinates(shape.exterior if hasattr(shape, "exterior") else shape.boundary)
            lon, lat = back(xy[:, 0], xy[:, 1])
            outlines.append((lon, lat))
        gate_lon = [g.lon for g in self.event.gates]
        gate_lat = [g.lat for g in self.event.gates]
        census = rec.census_table()
        return {
            "links": self.links_table(), "peak_density_p_m2": rec.peak_density_p_m2.copy(),
            "seconds_los_ef": rec.seconds_los_ef.copy(), "census": census.iloc[:: max(1, len(census) // 600)],
            "outlines": outlines, "ring_names": [r.name for r in self.event.rings],
            "gates_lonlat": (gate_lon, gate_lat, [g.name for g in self.event.gates]),
            "gates": self.gate_table(), "calls": pd.DataFrame(self.calls), "start_s": self.crowd.start_s, "end_s": self.crowd.end_s,
        }  # fmt: skip
