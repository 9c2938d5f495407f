/* PoliceTwin replay, large events: walk links coloured by level of service, gates sized by their queue and
   open crowd incidents at time t, drawn on replay.js's overlay canvas (under incidents and units). The data
   come with the page (policetwin/dashboard/event_replay.py:payload): per walk link one character per time
   bin (" " nobody, "A"-"F"), per gate its queue, lanes open and p95 wait per bin. replay.js calls
   PT.eventAt (state at t), PT.paintEvent (draw) and PT.scanEvent (hover and click). */
(function () {
  "use strict";
  var PT = (window.PT = window.PT || {});
  var WIDTHS = [1.4, 2, 2.6, 3.2, 3.8, 4.4];

  function mercX(lon) { return (lon + 180) / 360; }
  function mercY(lat) {
    var s = Math.min(Math.max(Math.sin((lat * Math.PI) / 180), -0.9999), 0.9999);
    return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
  }

  // walk links: two points each, delta-encoded integers -> Mercator arrays (once per payload)
  function decoded(ev) {
    if (ev._dec) return ev._dec;
    var d = ev.links.d, m = d.length / 2, X = new Float64Array(m), Y = new Float64Array(m), x = 0, y = 0;
    for (var i = 0; i < m; i++) {
      x += d[2 * i]; y += d[2 * i + 1];
      X[i] = mercX(x * ev.links.scale); Y[i] = mercY(y * ev.links.scale);
    }
    ev._dec = { X: X, Y: Y };
    return ev._dec;
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, k) { return values[k] !== undefined ? values[k] : all; });
  }

  PT.eventAt = function (g, t, cfg) {
    var ev = g.event, b = Math.floor((t - ev.t0) / ev.bin_s), lab = cfg.event_labels || {};
    if (b < 0 || b >= ev.n_bins) b = -1;
    var gates = { lon: [], lat: [], q: [], lanes: [], txt: [] };
    if (b >= 0) {
      for (var k = 0; k < ev.gates.name.length; k++) {
        var q = ev.gates.q[k][b], lanes = ev.gates.lanes[k][b], w = ev.gates.wait[k][b];
        gates.lon.push(ev.gates.lon[k]); gates.lat.push(ev.gates.lat[k]);
        gates.q.push(q); gates.lanes.push(lanes);
        gates.txt.push(fill(lab.gate || "{name}", {
          name: ev.gates.name[k], queue: q, lanes: lanes, wait: w >= 0 ? (w / 60).toFixed(1) : "-",
        }));
      }
    }
    var inc = { lon: [], lat: [], ids: [], txt: [] }, d = ev.incidents;
    for (var i = 0; i < d.id.length; i++) {
      if (d.tc[i] <= t && t < d.tx[i]) {
        inc.lon.push(d.lon[i]); inc.lat.push(d.lat[i]); inc.ids.push(d.id[i]);
        inc.txt.push(fill(lab.incident || "{id}", { id: d.id[i], kind: d.kind[i] }));
      }
    }
    return { b: b, ev: ev, gates: gates, inc: inc };
  };

  PT.paintEvent = function (ctx, v, st, l, project, visible) {
    var e = l.event, gid = st.g.id;
    if (!e) return;
    var ev = e.ev;
    if (e.b >= 0 && visible(gid, "event_links") && ev.links.los.length) {
      var dec = decoded(ev), los = ev.links.los;
      for (var lvl = 0; lvl < ev.levels.length; lvl++) {
        var ch = ev.levels[lvl];
        ctx.beginPath();
        for (var k = 0; k < los.length; k++) {
          if (los[k].charAt(e.b) !== ch) continue;
          var i = 2 * k, X0 = dec.X[i], Y0 = dec.Y[i], X1 = dec.X[i + 1], Y1 = dec.Y[i + 1];
          ctx.moveTo(v.a * X0 - v.b * Y0 + v.e, v.b * X0 + v.a * Y0 + v.f);
          ctx.lineTo(v.a * X1 - v.b * Y1 + v.e, v.b * X1 + v.a * Y1 + v.f);
        }
        ctx.strokeStyle = ev.los_colours[lvl];
        ctx.lineWidth = WIDTHS[lvl];
        ctx.lineCap = "round";
        ctx.stroke();
      }
    }
    if (visible(gid, "event_gates")) {
      var gt = e.gates;
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#ffffff";
      for (var j = 0; j < gt.lon.length; j++) {
        var p = project(v, gt.lon[j], gt.lat[j]), r = Math.min(28, 5 + 1.6 * Math.sqrt(gt.q[j]));
        ctx.beginPath();
        ctx.arc(p.x, p.y, r, 0, 2 * Math.PI);
        ctx.fillStyle = gt.lanes[j] > 0 ? ev.gate_colour : "#9e9e9e";
        ctx.globalAlpha = 0.75;
        ctx.fill();
        ctx.globalAlpha = 1;
        ctx.stroke();
      }
    }
    if (visible(gid, "event_incidents")) {
      var c = e.inc;
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#ffffff";
      ctx.fillStyle = ev.incident_colour;
      for (var n = 0; n < c.lon.length; n++) {
        var q = project(v, c.lon[n], c.lat[n]);
        ctx.beginPath();
        ctx.moveTo(q.x, q.y - 8); ctx.lineTo(q.x + 8, q.y); ctx.lineTo(q.x, q.y + 8); ctx.lineTo(q.x - 8, q.y);
        ctx.closePath();
        ctx.fill();
        ctx.stroke();
      }
    }
  };

  // hover: gates and crowd incidents; click: crowd incidents (their timeline)
  PT.scanEvent = function (st, l, scan, hovering, visible) {
    var e = l.event, gid = st.g.id;
    if (!e) return;
    if (visible(gid, "event_incidents")) {
      scan(e.inc.lon, e.inc.lat, function (k) { return { txt: e.inc.txt[k], incident: e.inc.ids[k] }; });
    }
    if (hovering && visible(gid, "event_gates")) {
      scan(e.gates.lon, e.gates.lat, function (k) { return { txt: e.gates.txt[k] }; });
    }
  };
})();
