/* PoliceTwin replay: positions of units and open incidents at time t, computed in the browser from
   time-window chunks (/_pt/replay/<run>/<i>.json, one per hour of simulated time, fetched once and cached)
   and drawn with Plotly.restyle on the two marker traces only. Roads and districts are static GeoJSON map
   layers, never redrawn. Interpolation matches policetwin/dashboard/replay.py:positions_at. */
(function () {
  "use strict";
  var PT = (window.PT = window.PT || {
    chunks: {}, pending: {}, order: [], want: {}, frames: 0, draws: [], firstDraw: null, lastDrawMs: null,
    errors: 0, lastTick: null,
  });
  var MAX_CHUNKS = 16;

  function graphDiv(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    if (el.classList && el.classList.contains("js-plotly-plot")) return el;
    return el.querySelector(".js-plotly-plot");
  }

  function getChunk(base, i) {
    var key = base + "/" + i;
    if (PT.chunks[key]) return PT.chunks[key];
    if (!PT.pending[key]) {
      PT.pending[key] = fetch(key + ".json")
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (d) {
          PT.chunks[key] = d;
          PT.order.push(key);
          while (PT.order.length > MAX_CHUNKS) delete PT.chunks[PT.order.shift()];
          delete PT.pending[key];
          return d;
        })
        .catch(function () {
          PT.errors += 1;
          delete PT.pending[key];
          return null;
        });
    }
    return null;
  }

  // last index i with ts[i] <= t (-1 if none)
  function bisect(ts, t) {
    var lo = 0, hi = ts.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (ts[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  function unitsAt(c, t, cfg) {
    var u = c.units, n = u.ids.length;
    var lon = [], lat = [], col = [], txt = [], ids = [];
    for (var k = 0; k < n; k++) {
      var ts = u.t[k];
      if (!ts.length) continue;
      var i = bisect(ts, t), x, y;
      if (i < 0) {
        x = u.lon[k][0]; y = u.lat[k][0];
      } else if (i + 1 < ts.length && ts[i + 1] > ts[i]) {
        var f = (t - ts[i]) / (ts[i + 1] - ts[i]);
        x = u.lon[k][i] + f * (u.lon[k][i + 1] - u.lon[k][i]);
        y = u.lat[k][i] + f * (u.lat[k][i + 1] - u.lat[k][i]);
      } else {
        x = u.lon[k][i]; y = u.lat[k][i];
      }
      var st = u.st[k], code = 0;
      if (st[0].length) code = st[1][Math.max(bisect(st[0], t), 0)];
      lon.push(x); lat.push(y);
      col.push(cfg.state_colours[code] || "#000");
      txt.push(cfg.unit + " " + u.ids[k] + ": " + (cfg.state_labels[code] || "?"));
      ids.push(u.ids[k]);
    }
    return { lon: lon, lat: lat, col: col, txt: txt, ids: ids };
  }

  function incidentsAt(c, t, cfg) {
    var d = c.incidents, lon = [], lat = [], col = [], txt = [], ids = [];
    for (var k = 0; k < d.id.length; k++) {
      if (d.tc[k] <= t && t < d.tx[k]) {
        lon.push(d.lon[k]); lat.push(d.lat[k]);
        col.push(cfg.prio_colours[String(d.p[k])] || cfg.other_colour);
        txt.push(cfg.incident + " " + d.id[k] + " · P" + d.p[k] + " · " + d.kinds[d.k[k]]);
        ids.push(d.id[k]);
      }
    }
    return { lon: lon, lat: lat, col: col, txt: txt, ids: ids };
  }

  function mapOf(gd) {
    var fl = gd && gd._fullLayout, sp = fl && fl.map && fl.map._subplot;
    return sp && sp.map;
  }

  // The moving markers are drawn on a 2D canvas laid over the map: the map (roads, districts: ~34k
  // segments) is painted by the map library only when panned or zoomed, never per animation frame.
  function ensureOverlay(gd, g) {
    var map = mapOf(gd);
    if (!map || !map.isStyleLoaded()) return null;
    if (map.__ptOverlay) return map;
    var canvas = document.createElement("canvas");
    canvas.className = "pt-overlay";
    map.getContainer().appendChild(canvas);
    map.__ptOverlay = canvas;
    map.__ptGraph = g.id;
    map.on("move", function () { paint(map); });
    map.on("resize", function () { paint(map); });
    var hover = document.getElementById(g.id + "-hover");
    map.on("mousemove", function (e) {
      var hit = nearest(map, e.point, true);
      map.getCanvas().style.cursor = hit ? "pointer" : "";
      if (hover) hover.textContent = hit ? hit.txt : "";
    });
    map.on("click", function (e) {
      var hit = nearest(map, e.point, false);
      if (hit && hit.incident !== undefined) PT.clickIncident(g.id, hit.incident);
    });
    return map;
  }

  function visible(gid, key) {
    var v = PT.visible[gid];
    return !v || v[key] !== false;
  }

  // the marker under a pixel (within 8 px)
  function nearest(map, pt, unitsToo) {
    var l = PT.last[map.__ptGraph];
    if (!l) return null;
    var best = null, bestD = 64; // 8 px
    function scan(lons, lats, make) {
      for (var k = 0; k < lons.length; k++) {
        var p = map.project([lons[k], lats[k]]), d = (p.x - pt.x) * (p.x - pt.x) + (p.y - pt.y) * (p.y - pt.y);
        if (d < bestD) { bestD = d; best = make(k); }
      }
    }
    var gid = map.__ptGraph;
    var scanUnits = function () {
      if (visible(gid, "units")) scan(l.lon, l.lat, function (k) { return { txt: l.txt[k] }; });
    };
    var scanIncidents = function () {
      if (visible(gid, "incidents")) scan(l.incLon, l.incLat, function (k) {
        return { txt: l.incTxt[k], incident: l.incidents[k] };
      });
    };
    scanIncidents();
    if (unitsToo) scanUnits(); // hovering: the nearest of both; clicking: incidents only
    return best;
  }

  function paint(map) {
    var canvas = map.__ptOverlay, l = PT.last[map.__ptGraph];
    if (!canvas) return;
    var base = map.getCanvas(), w = base.clientWidth, h = base.clientHeight, r = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * r) || canvas.height !== Math.round(h * r)) {
      canvas.width = Math.round(w * r); canvas.height = Math.round(h * r);
      canvas.style.width = w + "px"; canvas.style.height = h + "px";
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(r, 0, 0, r, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (!l) return;
    var gid = map.__ptGraph;
    function dots(lons, lats, cols, radius, stroke) {
      ctx.lineWidth = 1;
      ctx.strokeStyle = stroke;
      for (var k = 0; k < lons.length; k++) {
        var p = map.project([lons[k], lats[k]]);
        if (p.x < -10 || p.y < -10 || p.x > w + 10 || p.y > h + 10) continue;
        ctx.beginPath();
        ctx.arc(p.x, p.y, radius, 0, 2 * Math.PI);
        ctx.fillStyle = cols[k];
        ctx.fill();
        ctx.stroke();
      }
    }
    if (visible(gid, "incidents")) dots(l.incLon, l.incLat, l.incCol, 6, "#ffffff");
    if (visible(gid, "units")) dots(l.lon, l.lat, l.col, 5, "#1f2933");
  }
  PT.paint = paint;

  PT.visible = PT.visible || {};
  PT.last = PT.last || {};
  PT.clickIncident = function (gid, id) {
    var store = gid.replace(/-map-\d+$/, "") + "-click";
    if (window.dash_clientside && window.dash_clientside.set_props) {  // a dcc.Store has no DOM node
      window.dash_clientside.set_props(store, { data: { id: Number(id), n: Date.now() } });
    }
  };

  function draw(cfg, g, t, started) {
    var gd = graphDiv(g.id);
    var map = gd && ensureOverlay(gd, g);
    if (!map) {
      setTimeout(function () { if (PT.want[g.id] === t) draw(cfg, g, t, started); }, 50);
      return;
    }
    var idx = Math.min(Math.max(0, Math.floor(t / cfg.chunk_s)), cfg.n_chunks - 1);
    var c = getChunk(g.base, idx);
    if (!c) {
      var p = PT.pending[g.base + "/" + idx];
      if (p) p.then(function (d) { if (d && PT.want[g.id] === t) draw(cfg, g, t, started); });
      return;
    }
    if (idx + 1 < cfg.n_chunks) getChunk(g.base, idx + 1);
    var inc = incidentsAt(c, t, cfg), units = unitsAt(c, t, cfg);
    PT.last[g.id] = { t: t, lon: units.lon, lat: units.lat, col: units.col, txt: units.txt, ids: units.ids,
                      incidents: inc.ids, incLon: inc.lon, incLat: inc.lat, incCol: inc.col, incTxt: inc.txt };
    paint(map);
    gd.setAttribute("data-pt-t", String(t));
    gd.setAttribute("data-pt-units", String(units.lon.length));
    if (!PT.waiting[g.id]) {
      PT.waiting[g.id] = true;
      requestAnimationFrame(function () {  // the frame with the new markers is on screen
        var now = performance.now();
        PT.waiting[g.id] = false;
        PT.frames += 1;
        PT.lastDrawMs = now - started;
        PT.draws.push([t, PT.lastDrawMs]);
        if (PT.draws.length > 500) PT.draws.shift();
        if (PT.firstDraw === null && map.loaded()) PT.firstDraw = now;
        else if (PT.firstDraw === null) map.once("idle", function () {
          if (PT.firstDraw === null) PT.firstDraw = performance.now();
        });
      });
    }
  }
  PT.waiting = PT.waiting || {};

  function clock(t, cfg) {
    var total = cfg.offset_s + t, day = Math.floor(total / 86400) % 7, s = Math.round(total % 86400);
    if (s >= 86400) { s = 0; day = (day + 1) % 7; }
    var hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60);
    return cfg.days[day] + " " + (hh < 10 ? "0" : "") + hh + ":" + (mm < 10 ? "0" : "") + mm;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    policetwin: {
      draw: function (t, cfg) {
        if (!cfg) return window.dash_clientside.no_update;
        var started = performance.now();
        t = Number(t) || 0;
        cfg.graphs.forEach(function (g) {
          PT.want[g.id] = t;
          draw(cfg, g, t, started);
        });
        return clock(t, cfg);
      },
      toggle: function (n, disabled, cfg) {
        PT.lastTick = null;
        var playing = !!disabled; // it was disabled: now it plays
        return [!playing, playing ? cfg.pause : cfg.play];
      },
      tick: function (n, t, speed, cfg) {
        var now = performance.now();
        var dt = PT.lastTick === null ? 0.05 : Math.min((now - PT.lastTick) / 1000, 0.25);
        PT.lastTick = now;
        var next = (Number(t) || 0) + (Number(speed) || 10) * 60 * dt;
        if (next >= cfg.t_max) next = 0; // loop
        return next;
      },
      layers: function (values, cfg) {
        var on = {};
        (values || []).forEach(function (v) { on[v] = true; });
        cfg.graphs.forEach(function (g) {
          var gd = graphDiv(g.id);
          if (!gd || !gd.data) return;
          PT.visible[g.id] = { units: !!on.units, incidents: !!on.incidents };
          var map = mapOf(gd);
          if (map && map.__ptOverlay) paint(map);
          var idx = [], vis = [];
          gd.data.forEach(function (tr, i) {
            if (tr.meta) { idx.push(i); vis.push(on[tr.meta] ? true : "legendonly"); }
          });
          if (idx.length) window.Plotly.restyle(gd, { visible: vis }, idx);
          var keys = (gd.layout.meta && gd.layout.meta.map_layers) || [], rel = {};
          keys.forEach(function (k, i) { rel["map.layers[" + i + "].visible"] = !!on[k]; });
          if (keys.length) window.Plotly.relayout(gd, rel);
        });
        return "pt-layers";
      },
    },
  });
})();
