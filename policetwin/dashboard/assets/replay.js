/* PoliceTwin replay: the street network, units and open incidents at time t, drawn on two canvases of the
   map's box — streets under the map library's drawing (its style is transparent), units and incidents over it.
   The page brings the streets (in a compact form, see policetwin/dashboard/replay.py:road_lines) and the
   first time-window chunk, so both are drawn in the map's initial view at once, before plotly and the map
   library have loaded (first paint); they follow the map (pan, zoom) once it is ready. Streets are repainted
   only when the view changes. Later chunks (/_pt/replay/<run>/<i>.json, one per hour of simulated time) are
   fetched once and cached. Interpolation matches replay.py:positions_at. */
(function () {
  "use strict";
  var PT = (window.PT = window.PT || {
    chunks: {}, pending: {}, order: [], want: {}, frames: 0, draws: [], firstDraw: null, mapReady: null,
    lastDrawMs: null, errors: 0, lastTick: null, roads: {}, visible: {}, last: {}, waiting: {},
  });
  var MAX_CHUNKS = 16;
  var ROAD_STYLE = { minor: ["#b8bcc2", 0.8], major: ["#8a9099", 1.8] };

  function graphDiv(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    if (el.classList && el.classList.contains("js-plotly-plot")) return el;
    return el.querySelector(".js-plotly-plot");
  }

  function mapOf(gd) {
    var fl = gd && gd._fullLayout, sp = fl && fl.map && fl.map._subplot;
    return sp && sp.map;
  }

  function getJSON(url, store, key, keep) {
    if (store[key]) return store[key];
    if (!PT.pending[url]) {
      PT.pending[url] = fetch(url)
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (d) {
          store[key] = keep ? keep(d) : d;
          delete PT.pending[url];
          return store[key];
        })
        .catch(function () {
          PT.errors += 1;
          delete PT.pending[url];
          return null;
        });
    }
    return null;
  }

  function keepChunk(key, d) {
    PT.order.push(key);
    while (PT.order.length > MAX_CHUNKS) delete PT.chunks[PT.order.shift()];
    return d;
  }

  function getChunk(base, i) {
    var key = base + "/" + i;
    return getJSON(key + ".json", PT.chunks, key, function (d) { return keepChunk(key, d); });
  }

  // Web Mercator as the map library has it: the world is [0, 1] x [0, 1], y downwards
  function mercX(lon) { return (lon + 180) / 360; }
  function mercY(lat) {
    var s = Math.min(Math.max(Math.sin((lat * Math.PI) / 180), -0.9999), 0.9999);
    return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
  }

  // the compact street network: polylines of delta-encoded integer coordinates -> Mercator arrays
  function decodeRoads(d) {
    var out = {};
    ["minor", "major"].forEach(function (cls) {
      var c = d[cls] || { n: [], d: [] }, m = c.d.length / 2;
      var X = new Float64Array(m), Y = new Float64Array(m), x = 0, y = 0;
      for (var i = 0; i < m; i++) {
        x += c.d[2 * i]; y += c.d[2 * i + 1];
        X[i] = mercX(x * d.scale); Y[i] = mercY(y * d.scale);
      }
      out[cls] = { n: c.n, X: X, Y: Y };
    });
    return out;
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

  // A map's box and its canvases (made on the first draw; a new page makes a new box)
  function boxState(g) {
    var box = document.getElementById(g.id + "-box");
    if (!box) return null;
    if (!box.__pt) {
      var make = function (cls) {
        var c = document.createElement("canvas");
        c.className = cls;
        box.appendChild(c);
        return c;
      };
      box.__pt = { g: g, box: box, roads: make("pt-roads"), marks: make("pt-overlay"), map: null, roadsKey: "" };
    }
    box.__pt.g = g;
    return box.__pt;
  }

  // From Mercator to the canvas's pixels: x' = a X - b Y + e, y' = b X + a Y + f (a similarity: pan,
  // zoom, rotation). Before the map is ready: the figure's initial view; then: the map's own projection.
  function viewOf(st) {
    var w, h;
    if (st.map) {
      var cv = st.map.getCanvas(), c = st.map.getCenter(), lon1 = c.lng + 0.01, lat1 = c.lat + 0.01;
      var p0 = st.map.project([c.lng, c.lat]), p1 = st.map.project([lon1, lat1]);
      var zx = mercX(c.lng), zy = mercY(c.lat), dx = mercX(lon1) - zx, dy = mercY(lat1) - zy;
      var px = p1.x - p0.x, py = p1.y - p0.y, den = dx * dx + dy * dy;
      var a = (px * dx + py * dy) / den, b = (py * dx - px * dy) / den;
      w = cv.clientWidth; h = cv.clientHeight;
      return { w: w, h: h, a: a, b: b, e: p0.x - (a * zx - b * zy), f: p0.y - (b * zx + a * zy) };
    }
    var v = st.g.view, s = 512 * Math.pow(2, v[2]);
    w = st.box.clientWidth; h = st.box.clientHeight;
    return { w: w, h: h, a: s, b: 0, e: w / 2 - s * mercX(v[0]), f: h / 2 - s * mercY(v[1]) };
  }
  PT.viewOf = viewOf;

  function fit(canvas, v) {
    var r = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(v.w * r) || canvas.height !== Math.round(v.h * r)) {
      canvas.width = Math.round(v.w * r); canvas.height = Math.round(v.h * r);
      canvas.style.width = v.w + "px"; canvas.style.height = v.h + "px";
    }
    var ctx = canvas.getContext("2d");
    ctx.setTransform(r, 0, 0, r, 0, 0);
    ctx.clearRect(0, 0, v.w, v.h);
    return ctx;
  }

  function visible(gid, key) {
    var on = PT.visible[gid];
    return !on || on[key] !== false;
  }

  function paintRoads(st, v) {
    var roads = PT.roads[st.g.base], on = visible(st.g.id, "roads");
    var key = [v.w, v.h, v.a, v.b, v.e, v.f, on, !!roads].join(",");
    if (key === st.roadsKey) return;
    st.roadsKey = key;
    var ctx = fit(st.roads, v);
    if (!roads || !on) return;
    ["minor", "major"].forEach(function (cls) {
      var r = roads[cls], i = 0;
      ctx.beginPath();
      for (var k = 0; k < r.n.length; k++) {
        for (var j = 0; j < r.n[k]; j++, i++) {
          var x = v.a * r.X[i] - v.b * r.Y[i] + v.e, y = v.b * r.X[i] + v.a * r.Y[i] + v.f;
          if (j === 0) ctx.moveTo(x, y);
          else ctx.lineTo(x, y);
        }
      }
      ctx.strokeStyle = ROAD_STYLE[cls][0];
      ctx.lineWidth = ROAD_STYLE[cls][1];
      ctx.stroke();
    });
  }

  function project(v, lon, lat) {
    var X = mercX(lon), Y = mercY(lat);
    return { x: v.a * X - v.b * Y + v.e, y: v.b * X + v.a * Y + v.f };
  }

  function paintMarks(st, v) {
    var ctx = fit(st.marks, v), l = PT.last[st.g.id];
    if (!l) return;
    function dots(lons, lats, cols, radius, stroke) {
      ctx.lineWidth = 1;
      ctx.strokeStyle = stroke;
      for (var k = 0; k < lons.length; k++) {
        var p = project(v, lons[k], lats[k]);
        if (p.x < -10 || p.y < -10 || p.x > v.w + 10 || p.y > v.h + 10) continue;
        ctx.beginPath();
        ctx.arc(p.x, p.y, radius, 0, 2 * Math.PI);
        ctx.fillStyle = cols[k];
        ctx.fill();
        ctx.stroke();
      }
    }
    if (PT.paintEvent) PT.paintEvent(ctx, v, st, l, project, visible);  // assets/replay_event.js
    if (visible(st.g.id, "incidents")) dots(l.incLon, l.incLat, l.incCol, 6, "#ffffff");
    if (visible(st.g.id, "units")) dots(l.lon, l.lat, l.col, 5, "#1f2933");
  }

  function paint(st) {
    var v = viewOf(st);
    paintRoads(st, v);
    paintMarks(st, v);
  }
  PT.paint = paint;

  // the marker under a pixel (within 8 px)
  function nearest(st, pt, unitsToo) {
    var l = PT.last[st.g.id], v = viewOf(st), gid = st.g.id;
    if (!l) return null;
    var best = null, bestD = 64;
    function scan(lons, lats, make) {
      for (var k = 0; k < lons.length; k++) {
        var p = project(v, lons[k], lats[k]), d = (p.x - pt.x) * (p.x - pt.x) + (p.y - pt.y) * (p.y - pt.y);
        if (d < bestD) { bestD = d; best = make(k); }
      }
    }
    if (visible(gid, "incidents")) {
      scan(l.incLon, l.incLat, function (k) { return { txt: l.incTxt[k], incident: l.incidents[k] }; });
    }
    if (unitsToo && visible(gid, "units")) {  // hovering: the nearest of both; clicking: incidents only
      scan(l.lon, l.lat, function (k) { return { txt: l.txt[k] }; });
    }
    if (PT.scanEvent) PT.scanEvent(st, l, scan, unitsToo, visible);  // gates, crowd incidents
    return best;
  }

  // Once the map library has loaded: the canvases move into the map (streets under its drawing, markers
  // over it, the legend above both) and follow its view; hover and click work from then on.
  function attach(st) {
    if (st.map) return true;
    var map = mapOf(graphDiv(st.g.id));
    if (!map || !map.isStyleLoaded()) return false;
    st.map = map;
    if (map.setMaxPitch) map.setMaxPitch(0);  // a flat map: the canvases follow pan, zoom and rotation
    var inner = map.getCanvasContainer();
    inner.parentNode.insertBefore(st.roads, inner);
    map.getContainer().appendChild(st.marks);
    st.roadsKey = "";
    map.on("move", function () { paint(st); });
    map.on("resize", function () { paint(st); });
    var hover = document.getElementById(st.g.id + "-hover");
    map.on("mousemove", function (e) {
      var hit = nearest(st, e.point, true);
      map.getCanvas().style.cursor = hit ? "pointer" : "";
      if (hover) hover.textContent = hit ? hit.txt : "";
    });
    map.on("click", function (e) {
      var hit = nearest(st, e.point, false);
      if (hit && hit.incident !== undefined) PT.clickIncident(st.g.id, hit.incident);
    });
    paint(st);
    var ready = function () { if (PT.mapReady === null) PT.mapReady = performance.now(); };
    if (map.loaded()) ready();
    else map.once("idle", ready);
    return true;
  }

  function attachLater(st) {
    if (st.polling) return;
    st.polling = true;
    (function poll() {
      if (!st.box.isConnected || attach(st)) { st.polling = false; return; }
      setTimeout(poll, 50);
    })();
  }

  PT.clickIncident = function (gid, id) {
    var store = gid.replace(/-map-\d+$/, "") + "-click";
    if (window.dash_clientside && window.dash_clientside.set_props) {  // a dcc.Store has no DOM node
      window.dash_clientside.set_props(store, { data: { id: Number(id), n: Date.now() } });
    }
  };

  // the first paint: streets (if the run has them) and units on screen
  function noteFirstPaint(st) {
    if (PT.firstDraw !== null || !PT.last[st.g.id] || (st.g.roads && !PT.roads[st.g.base])) return;
    requestAnimationFrame(function () {
      if (PT.firstDraw === null) PT.firstDraw = performance.now();
    });
  }

  function draw(cfg, g, t, started) {
    var st = boxState(g);
    if (!st) {
      setTimeout(function () { if (PT.want[g.id] === t) draw(cfg, g, t, started); }, 50);
      return;
    }
    if (!attach(st)) attachLater(st);
    if (!st.seeded) {  // the data that came with the page
      st.seeded = true;
      if (g.roads) PT.roads[g.base] = decodeRoads(g.roads);
      var key = g.base + "/" + g.first.i;
      if (!PT.chunks[key]) PT.chunks[key] = keepChunk(key, g.first.data);
    }
    var idx = Math.min(Math.max(0, Math.floor(t / cfg.chunk_s)), cfg.n_chunks - 1);
    var c = getChunk(g.base, idx);
    if (!c) {
      var p = PT.pending[g.base + "/" + idx + ".json"];
      if (p) p.then(function (d) { if (d && PT.want[g.id] === t) draw(cfg, g, t, started); });
      return;
    }
    if (idx + 1 < cfg.n_chunks) getChunk(g.base, idx + 1);
    var inc = incidentsAt(c, t, cfg), units = unitsAt(c, t, cfg);
    PT.last[g.id] = { t: t, lon: units.lon, lat: units.lat, col: units.col, txt: units.txt, ids: units.ids,
                      incidents: inc.ids, incLon: inc.lon, incLat: inc.lat, incCol: inc.col, incTxt: inc.txt };
    if (g.event && PT.eventAt) PT.last[g.id].event = PT.eventAt(g, t, cfg);
    paint(st);
    st.box.setAttribute("data-pt-t", String(t));
    st.box.setAttribute("data-pt-units", String(units.lon.length));
    noteFirstPaint(st);
    if (!PT.waiting[g.id]) {
      PT.waiting[g.id] = true;
      requestAnimationFrame(function () {  // the frame with the new markers is on screen
        PT.waiting[g.id] = false;
        PT.frames += 1;
        PT.lastDrawMs = performance.now() - started;
        PT.draws.push([t, PT.lastDrawMs]);
        if (PT.draws.length > 500) PT.draws.shift();
      });
    }
  }

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
          var vis = {};
          (cfg.dynamic || ["roads", "units", "incidents"]).forEach(function (k) { vis[k] = !!on[k]; });
          PT.visible[g.id] = vis;
          var st = boxState(g);
          if (st) paint(st);
          var gd = graphDiv(g.id);
          if (!gd || !gd.data) return;
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
