// keepsight report: draws the timelines, heartbeat charts and tables from the JSON blob above.
// No libraries, nothing fetched. Any error is shown on the page (and marks <body data-status>),
// so a broken page cannot pass for a good one.
(function () {
  "use strict";
  var errors = [];
  function fail(msg) {
    errors.push(String(msg));
    var pre = document.getElementById("js-errors");
    pre.hidden = false;
    pre.textContent = "This page failed to draw:\n" + errors.join("\n");
    document.body.setAttribute("data-status", "error");
  }
  window.addEventListener("error", function (e) {
    fail((e.message || "error") + " at " + (e.filename || "") + ":" + (e.lineno || ""));
  });
  window.addEventListener("unhandledrejection", function (e) { fail("unhandled rejection: " + e.reason); });

  var SVG = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent, text) {
    var n = document.createElementNS(SVG, name);
    for (var k in attrs) { if (attrs[k] !== undefined && attrs[k] !== null) n.setAttribute(k, attrs[k]); }
    if (text !== undefined) n.textContent = text;
    if (parent) parent.appendChild(n);
    return n;
  }
  function title(node, text) { el("title", {}, node, text); return node; }
  function h(tag, attrs, parent, text) {
    var n = document.createElement(tag);
    for (var k in attrs) { if (attrs[k] !== undefined && attrs[k] !== null) n.setAttribute(k, attrs[k]); }
    if (text !== undefined) n.textContent = text;
    if (parent) parent.appendChild(n);
    return n;
  }
  function fmtS(s) {
    if (s === null || s === undefined) return "";
    if (s === 0) return "0";
    var a = Math.abs(s);
    if (a >= 100) return s.toFixed(0) + " s";
    if (a >= 1) return s.toFixed(2) + " s";
    if (a >= 0.001) return (s * 1e3).toFixed(1) + " ms";
    return (s * 1e6).toFixed(0) + " µs";
  }
  function fmtBytes(n) {
    if (n < 10000) return n + " B";
    if (n < 1e7) return (n / 1e3).toFixed(0) + " kB";
    if (n < 1e10) return (n / 1e6).toFixed(0) + " MB";
    return (n / 1e9).toFixed(0) + " GB";
  }
  function niceTicks(lo, hi, n) {
    var span = hi - lo; if (!(span > 0)) return [lo];
    var step = Math.pow(10, Math.floor(Math.log10(span / n)));
    var err = span / n / step;
    if (err >= 7.5) step *= 10; else if (err >= 3.5) step *= 5; else if (err >= 1.5) step *= 2;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(9));
    return out;
  }

  var D = JSON.parse(document.getElementById("data").textContent);
  var FINDINGS = {};
  D.findings.forEach(function (f) { FINDINGS[f.id] = f; });

  // ---- per-stream timeline -------------------------------------------------------------
  var W = 1100, LEFT = 92, RIGHT = 16;
  function timeline(s, parent) {
    var lanes = [["packets", 34], ["heartbeats", 22], ["http", 20], ["keep-alive / retx", 18], ["open / close", 18],
                 ["idle gaps", 22], ["log lines", 16], ["findings", 18]];
    // The HTTP lane only where there is HTTP.
    if (!s.exchanges) lanes.splice(2, 1);
    var H = 8, y = {};
    lanes.forEach(function (l) { y[l[0]] = [H, l[1]]; H += l[1] + 4; });
    var axisY = H; H += 22;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, "class": "timeline", "data-stream": s.stream }, parent);
    var t0 = s.t0, t1 = Math.max(s.t1, s.t0 + 1e-3);
    var pad = (t1 - t0) * 0.01; t0 -= pad; t1 += pad;
    function X(t) { return LEFT + (t - t0) / (t1 - t0) * (W - LEFT - RIGHT); }
    lanes.forEach(function (l) {
      var r = y[l[0]];
      el("rect", { x: LEFT, y: r[0], width: W - LEFT - RIGHT, height: r[1], "class": "lane" }, svg);
      el("text", { x: 4, y: r[0] + r[1] / 2 + 4, "class": "lanelabel" }, svg, l[0]);
    });
    // Packets: bucket counts, square-root scaled so quiet stretches stay visible.
    var b = s.buckets, maxc = 0;
    b.c.forEach(function (c) { if (c > maxc) maxc = c; });
    var py = y["packets"];
    b.c.forEach(function (c, i) {
      if (!c) return;
      var a = s.t0 + i * b.w, x0 = X(a), x1 = Math.max(X(a + b.w), x0 + 1);
      var hh = Math.max(1.5, Math.sqrt(c / maxc) * py[1]);
      title(el("rect", { x: x0, y: py[0] + py[1] - hh, width: x1 - x0, height: hh, "class": "bar" }, svg),
        c + " packets in " + fmtS(b.w) + " from " + a.toFixed(3) + " s");
    });
    // Heartbeats: one tick per point; the late ones red and tall.
    var hy = y["heartbeats"], late = {};
    (s.late || []).forEach(function (f) { late[f] = true; });
    if (s.beats) {
      var hb = s.heartbeat;
      el("rect", { x: X(s.beats.first[0]) - 1, y: hy[0] + 5, width: 2, height: hy[1] - 10, "class": "beat", "data-frame": s.beats.first[1] }, svg);
      s.beats.points.forEach(function (p) {
        var isLate = !!late[p[3]];
        var r = el("rect", { x: X(p[0]) - (isLate ? 2 : 1), y: hy[0] + (isLate ? 1 : 5), width: isLate ? 4 : 2,
          height: hy[1] - (isLate ? 2 : 10), "class": "beat" + (isLate ? " late" : ""), "data-frame": p[3],
          "data-gap": p[1] }, svg);
        title(r, (isLate ? "LATE probe" : "probe") + " frame " + p[3] + " at " + p[0].toFixed(3) + " s, " +
          fmtS(p[1]) + " after the previous" + (p[4] > 1 ? " (longest of " + p[4] + " beats)" : "") +
          (hb ? "; expected every " + fmtS(hb.period_s) : ""));
      });
    } else if (s.heartbeat) {
      el("text", { x: LEFT + 6, y: hy[0] + 15 }, svg, "heartbeat found, but its beats were not kept for drawing");
    }
    // HTTP exchanges: a bar from the request to the start of its response; reuse races and
    // framing faults (the HTTP analyser's verdicts) tall and coloured.
    var xy = y["http"];
    if (xy && s.exchanges) {
      var xs = s.exchanges;
      if (xs.buckets) {
        // More requests than drawn one by one: requests per time slot, under the kept ones.
        var maxr = 0;
        xs.buckets.forEach(function (c) { if (c > maxr) maxr = c; });
        xs.buckets.forEach(function (c, i) {
          if (!c) return;
          var a = s.t0 + i * b.w, x0 = X(a), x1 = Math.max(X(a + b.w), x0 + 1);
          var hh = Math.max(1.5, Math.sqrt(c / maxr) * (xy[1] - 4));
          title(el("rect", { x: x0, y: xy[0] + xy[1] - 2 - hh, width: x1 - x0, height: hh, "class": "hxbar" }, svg),
            c + " HTTP requests in " + fmtS(b.w) + " from " + a.toFixed(3) + " s");
        });
      }
      xs.list.forEach(function (x) {
        var x0 = X(x[0]), x1 = x[1] === null ? x0 : X(x[1]), mark = x[4];
        // The response tick first, so that a marked exchange (wider) stays on top of it.
        if (x[3] !== null) el("rect", { x: x1 - 1, y: xy[0] + 3, width: 2, height: xy[1] - 6, "class": "hx resp", "data-frame": x[3] }, svg);
        var wmin = mark ? 5 : 2;
        var r = el("rect", { x: x0 - (mark ? 2 : 1), y: xy[0] + (mark ? 1 : 5), width: Math.max(wmin, x1 - x0 + 2), height: xy[1] - (mark ? 2 : 10),
          "class": "hx" + (mark ? " " + mark : ""), "data-frame": x[2] }, svg);
        title(r, (mark === "race" ? "REUSE RACE: " : mark === "fault" ? "FRAMING FAULT: " : "") + "HTTP request frame " + x[2] +
          " at " + x[0].toFixed(3) + " s" + (x[1] === null ? ", no response seen" : ", response from frame " + x[3] + " " + fmtS(x[1] - x[0]) + " later") +
          (x[5] ? "\n" + x[5] : ""));
      });
      xs.marks.forEach(function (m) {
        var x = X(m[0]), t = xy[0] + 2;
        title(el("path", { d: "M" + (x - 4) + " " + t + " L" + (x + 4) + " " + t + " L" + x + " " + (t + xy[1] - 4) + " Z", "class": "hx fault", "data-frame": m[1] }, svg),
          "FRAMING FAULT: message from frame " + m[1] + " at " + m[0].toFixed(3) + " s\n" + m[3]);
      });
    }
    // Notable packets. A keep-alive probe that got its keep-alive ACK is a filled dot joined to
    // a tick where the ACK came; one that got none is a hollow dot with a cross.
    var ky = y["keep-alive / retx"], cy = y["open / close"];
    s.events.forEach(function (e) {
      var k = e[1], x = X(e[0]), node, label = k.toUpperCase() + " from " + e[3] + ", frame " + e[2] + " at " + e[0].toFixed(3) + " s";
      var my = ky[0] + ky[1] / 2;
      if (k === "keepalive") {
        var ans = e[4];
        if (ans) {
          var xa = X(ans[0]);
          el("line", { x1: x, x2: xa, y1: my, y2: my, "class": "kaline" }, svg);
          el("rect", { x: xa - 1, y: my - 6, width: 2, height: 12, "class": "kaack", "data-frame": ans[1] }, svg);
          node = el("circle", { cx: x, cy: my, r: 4, "class": "ka ok", "data-frame": e[2] }, svg);
          label = "TCP keep-alive probe from " + e[3] + ", frame " + e[2] + " at " + e[0].toFixed(3) + " s; answered by the keep-alive ACK in frame " +
            ans[1] + " " + fmtS(ans[0] - e[0]) + " later";
        } else {
          node = el("g", { "class": "ka lost", "data-frame": e[2] }, svg);
          el("circle", { cx: x, cy: my, r: 4.5 }, node);
          el("path", { d: "M" + (x - 3) + " " + (my - 3) + " L" + (x + 3) + " " + (my + 3) + " M" + (x - 3) + " " + (my + 3) + " L" + (x + 3) + " " + (my - 3) }, node);
          label = "UNANSWERED TCP keep-alive probe from " + e[3] + ", frame " + e[2] + " at " + e[0].toFixed(3) + " s: no keep-alive ACK came";
        }
      } else if (k === "wsclose") {
        var wm = cy[0] + cy[1] / 2;
        node = el("path", { d: "M" + x + " " + (wm - 6) + " L" + (x + 5) + " " + wm + " L" + x + " " + (wm + 6) + " L" + (x - 5) + " " + wm + " Z", "class": "wsclose", "data-frame": e[2] }, svg);
        label = "WebSocket close frame from " + e[3] + ", frame " + e[2] + " at " + e[0].toFixed(3) + " s (code and reason in the findings)";
      } else if (k === "retransmission") {
        node = el("circle", { cx: x, cy: my, r: 3, "class": "retx", "data-frame": e[2] }, svg);
        label = "retransmission from " + e[3] + ", frame " + e[2] + " at " + e[0].toFixed(3) + " s";
      } else {
        var m = cy[0] + cy[1] / 2;
        node = el("path", { d: "M" + (x - 5) + " " + (m + 6) + " L" + x + " " + (m - 6) + " L" + (x + 5) + " " + (m + 6) + " Z", "class": k, "data-frame": e[2] }, svg);
      }
      title(node, label);
    });
    // Idle gaps, with the middlebox timeouts that expire inside them.
    var gy = y["idle gaps"];
    // A gap is drawn when a middlebox could matter: 5 s or more (the diagnoser's state-loss
    // threshold); red when it outlasts a middlebox's idle timeout.
    s.gaps.forEach(function (g, i) {
      if (g[4] < 5) return;
      var x0 = X(g[0]), x1 = Math.max(X(g[1]), x0 + 1);
      title(el("rect", { x: x0, y: gy[0] + 2, width: x1 - x0, height: gy[1] - 4, "class": g[5].length ? "gap" : "gap quiet" }, svg),
        "idle " + fmtS(g[4]) + " between frames " + g[2] + " and " + g[3] +
        (g[5].length ? "; longer than the idle timeout of " + g[5].join(", ") : ""));
      if (i === 0) {
        D.middleboxes.forEach(function (m) {
          if (m.timeout_s >= g[4]) return;
          var xm = X(g[0] + m.timeout_s);
          title(el("line", { x1: xm, x2: xm, y1: gy[0], y2: gy[0] + gy[1], "class": "mbx" }, svg),
            m.name + " (" + m.timeout_s + " s) forgets the connection here");
        });
      }
    });
    // Log lines matched to this stream.
    var ly = y["log lines"];
    (s.logs || []).forEach(function (l) {
      var x = X(l.t), m = ly[0] + ly[1] / 2;
      title(el("path", { d: "M" + x + " " + (m - 6) + " L" + (x + 5) + " " + m + " L" + x + " " + (m + 6) + " L" + (x - 5) + " " + m + " Z", "class": "log" }, svg),
        "log line " + l.line + ": " + l.text);
    });
    // Findings, linked to their entries above.
    var fy = y["findings"];
    s.findings.forEach(function (id) {
      var f = FINDINGS[id]; if (!f) return;
      var link = document.createElementNS(SVG, "a");
      link.setAttribute("href", "#f-" + id); svg.appendChild(link);
      title(el("circle", { cx: X(f.t), cy: fy[0] + fy[1] / 2, r: 5, "class": "fnd " + f.severity }, link),
        f.severity + " " + f.kind + " at " + f.t.toFixed(3) + " s (frames " + f.frames.join(", ") + ")");
    });
    // Time axis.
    el("line", { x1: LEFT, x2: W - RIGHT, y1: axisY, y2: axisY, "class": "axis" }, svg);
    niceTicks(t0, t1, 8).forEach(function (t) {
      if (t < t0 || t > t1) return;
      el("line", { x1: X(t), x2: X(t), y1: axisY, y2: axisY + 4, "class": "axis" }, svg);
      el("text", { x: X(t), y: axisY + 15, "text-anchor": "middle" }, svg, t + " s");
    });
    return svg;
  }

  // ---- heartbeat interval chart ----------------------------------------------------------
  function intervalChart(s, parent) {
    var hb = s.heartbeat, pts = s.beats.points;
    if (!pts.length) return;
    var H = 190, TOP = 10, BOT = 28;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, "class": "hbchart", "data-stream": s.stream }, parent);
    var t0 = s.t0, t1 = Math.max(s.t1, s.t0 + 1e-3), pad = (t1 - t0) * 0.01; t0 -= pad; t1 += pad;
    var ymax = hb.period_s + hb.tolerance_s;
    pts.forEach(function (p) { if (p[1] > ymax) ymax = p[1]; });
    ymax *= 1.12;
    function X(t) { return LEFT + (t - t0) / (t1 - t0) * (W - LEFT - RIGHT); }
    function Y(v) { return TOP + (1 - v / ymax) * (H - TOP - BOT); }
    el("rect", { x: LEFT, y: Y(hb.period_s + hb.tolerance_s), width: W - LEFT - RIGHT,
      height: Y(Math.max(0, hb.period_s - hb.tolerance_s)) - Y(hb.period_s + hb.tolerance_s), "class": "band" }, svg);
    el("line", { x1: LEFT, x2: W - RIGHT, y1: Y(hb.period_s), y2: Y(hb.period_s), "class": "period" }, svg);
    el("text", { x: W - RIGHT - 4, y: Y(hb.period_s + hb.tolerance_s) - 3, "text-anchor": "end" }, svg,
      "expected " + fmtS(hb.period_s) + " ± " + fmtS(hb.tolerance_s));
    niceTicks(0, ymax, 4).forEach(function (v) {
      el("line", { x1: LEFT - 4, x2: LEFT, y1: Y(v), y2: Y(v), "class": "axis" }, svg);
      el("text", { x: LEFT - 6, y: Y(v) + 4, "text-anchor": "end" }, svg, fmtS(v));
    });
    el("text", { x: 4, y: TOP + 10, "class": "lanelabel" }, svg, "interval");
    el("line", { x1: LEFT, x2: W - RIGHT, y1: H - BOT, y2: H - BOT, "class": "axis" }, svg);
    niceTicks(t0, t1, 8).forEach(function (t) {
      if (t < t0 || t > t1) return;
      el("text", { x: X(t), y: H - BOT + 15, "text-anchor": "middle" }, svg, t + " s");
    });
    var late = {};
    (s.late || []).forEach(function (f) { late[f] = true; });
    pts.forEach(function (p) {
      var x = X(p[0]), isLate = !!late[p[3]], off = p[1] > hb.period_s + hb.tolerance_s;
      if (p[4] > 1 && p[2] < p[1]) el("line", { x1: x, x2: x, y1: Y(p[1]), y2: Y(p[2]), "class": "rng" }, svg);
      var c = el("circle", { cx: x, cy: Y(p[1]), r: isLate ? 6 : 3, "class": "pt" + (isLate ? " late" : off ? " off" : ""),
        "data-frame": p[3], "data-gap": p[1] }, svg);
      title(c, (isLate ? "LATE: " : "") + "probe frame " + p[3] + " came " + fmtS(p[1]) + " after the previous at " + p[0].toFixed(3) + " s");
      var right = x > W * 0.7;
      if (isLate) el("text", { x: right ? x - 9 : x + 9, y: Y(p[1]) + 4, "class": "latelabel", "text-anchor": right ? "end" : "start" }, svg,
        "late: " + fmtS(p[1]) + " (frame " + p[3] + ")");
    });
  }

  function drawStreams() {
    var box = document.getElementById("streams");
    var note = document.getElementById("timelines-note");
    note.textContent = D.streams.length + " stream(s) drawn: those named by the findings first, most severe first." +
      (D.streams_not_drawn ? " " + D.streams_not_drawn + " other stream(s) are not drawn (see the conversation table)." : "");
    var legend = h("p", { "class": "legend" }, box);
    [["bar", "packets (√ scale)"], ["beat", "heartbeat probe"], ["late", "late probe"],
     ["hx", "HTTP request → response"], ["hx race", "HTTP reuse race"], ["hx fault", "HTTP framing fault"],
     ["ka ok", "TCP keep-alive probe answered (line to its ACK)"], ["ka lost", "TCP keep-alive probe unanswered"],
     ["retx", "retransmission"], ["syn", "SYN"], ["fin", "FIN"], ["rst", "RST"], ["wsclose", "WebSocket close frame"], ["gap", "idle ≥ 5 s, red past a middlebox timeout (dashed: where it expires)"],
     ["log", "matched log line"]].filter(function (l) {
      // Legend entries only for marks some drawn stream can have.
      if (l[0].indexOf("hx") === 0) return D.streams.some(function (s) { return s.exchanges; });
      if (l[0].indexOf("ka ") === 0) return D.streams.some(function (s) { return s.ka && s.ka.probes; });
      if (l[0] === "wsclose") return D.streams.some(function (s) { return s.events.some(function (e) { return e[1] === "wsclose"; }); });
      return true;
    }).forEach(function (l) {
      var sp = h("span", {}, legend), sw = el("svg", { viewBox: "0 0 10 10", width: 10, height: 10,
        style: "display:inline-block;width:10px;margin-right:3px" }, sp);
      el("rect", { width: 10, height: 10, "class": (l[0] === "late" ? "beat late" : l[0]) + " swatch" }, sw);
      sp.appendChild(document.createTextNode(l[1]));
    });
    D.streams.forEach(function (s) {
      var div = h("div", { "class": "stream", id: "s-" + s.stream }, box);
      var head = "stream " + s.stream + ": " + s.client + " → " + (s.server || "?");
      h("h3", {}, div, head);
      var facts = [s.packets + " packets", "from " + s.t0.toFixed(3) + " s to " + s.t1.toFixed(3) + " s"];
      if (s.close) facts.push("ended by " + s.close.by + " " + s.close.kind.toUpperCase() + " (frame " + s.close.frame + ")");
      else facts.push("still open at the end of the capture");
      if (s.heartbeat) facts.push("heartbeat " + s.heartbeat.probe + (s.heartbeat.reply ? " → " + s.heartbeat.reply : "") +
        " from the " + s.heartbeat.sender + " every " + fmtS(s.heartbeat.period_s) + " (" + s.heartbeat.beats + " beats" +
        (s.heartbeat.latency_ms !== null && s.heartbeat.latency_ms !== undefined ? ", reply " + fmtS(s.heartbeat.latency_ms / 1e3) + " median" : "") + ")");
      (s.keepalive || []).forEach(function (k) {
        facts.push("TCP keep-alive from the " + k.sender + ": " + k.probes + " probes, " + k.unanswered + " unanswered" +
          (k.idle_s !== null ? ", idle " + fmtS(k.idle_s) : "") + (k.interval_s !== null ? ", interval " + fmtS(k.interval_s) : ""));
      });
      if (s.ka && s.ka.probes) facts.push("keep-alive probes on the wire: " + s.ka.probes + ", " + s.ka.answered + " answered, " +
        (s.ka.probes - s.ka.answered) + " unanswered");
      if (s.http) facts.push("HTTP: " + s.http.requests + " requests, " + s.http.responses + " responses; " + s.http.close +
        (s.exchanges && s.exchanges.list.length < s.http.requests ? " (" + s.exchanges.list.length + " exchanges drawn one by one" +
          (s.exchanges.buckets ? ", all " + s.exchanges.seen + " counted per time slot" : "") + ")" : ""));
      if (s.events_dropped) facts.push(s.events_dropped + " more notable packets not drawn");
      h("p", { "class": "facts" }, div, facts.join(" · "));
      timeline(s, div);
      if (s.beats && s.heartbeat) {
        h("p", { "class": "facts" }, div, "Heartbeat interval (time since the previous probe) against the expected period" +
          (s.beats.per_point > 1 ? "; each point is the longest of up to " + s.beats.per_point + " beats" : ""));
        intervalChart(s, div);
      }
    });
  }

  // ---- sortable, paged tables --------------------------------------------------------------
  function table(parent, cols, rows, opts) {
    opts = opts || {};
    var page = opts.page || 100, start = 0, key = null, dir = 1;
    var wrap = h("div", {}, parent), pager = h("div", { "class": "pager" }, wrap);
    var t = h("table", { "class": opts.cls || "" }, wrap), thead = h("thead", {}, t), tr = h("tr", {}, thead);
    var tbody = h("tbody", {}, t);
    var ths = cols.map(function (c, i) {
      var th = h("th", { "class": "sortable", title: "sort" }, tr, c.name);
      th.addEventListener("click", function () {
        dir = key === i ? -dir : (c.num ? -1 : 1); key = i;
        ths.forEach(function (x) { x.classList.remove("asc", "desc"); });
        th.classList.add(dir > 0 ? "asc" : "desc");
        rows.sort(function (a, b) {
          var va = c.get(a), vb = c.get(b);
          if (va === null || va === undefined) va = c.num ? -Infinity : "";
          if (vb === null || vb === undefined) vb = c.num ? -Infinity : "";
          return (va < vb ? -1 : va > vb ? 1 : 0) * dir;
        });
        start = 0; draw();
      });
      return th;
    });
    function draw() {
      tbody.textContent = "";
      rows.slice(start, start + page).forEach(function (r) {
        var row = h("tr", {}, tbody);
        cols.forEach(function (c) {
          var td = h("td", { "class": c.num ? "num" : "" }, row);
          if (c.html) c.html(r, td); else td.textContent = c.show ? c.show(r) : c.get(r);
        });
      });
      pager.textContent = "";
      if (rows.length > page) {
        var prev = h("button", {}, pager, "◀ previous"), next = h("button", {}, pager, "next ▶");
        prev.disabled = start === 0; next.disabled = start + page >= rows.length;
        prev.addEventListener("click", function () { start = Math.max(0, start - page); draw(); });
        next.addEventListener("click", function () { start += page; draw(); });
        h("span", {}, pager, "rows " + (start + 1) + "–" + Math.min(rows.length, start + page) + " of " + rows.length);
      }
    }
    draw();
  }
  function streamCell(r, td, idx, drawn) {
    if (drawn) h("a", { href: "#s-" + r[idx] }, td, String(r[idx])); else td.textContent = r[idx];
  }

  function drawConversations() {
    var rows = D.conversations, note = document.getElementById("conv-note");
    note.textContent = "Every TCP conversation as tshark -z conv,tcp counts it (A is the first sender), with how it ended. Click a column to sort." +
      (D.conversations_total > rows.length ? " Showing " + rows.length + " of " + D.conversations_total +
        " conversations: the largest, plus every one a finding names." : "");
    table(document.getElementById("conv-body"), [
      { name: "stream", num: true, get: function (r) { return r[0]; }, html: function (r, td) { streamCell(r, td, 0, r[13]); if (r[14]) h("span", { "class": "flag", title: "named by a finding" }, td, "⚑"); } },
      { name: "A", get: function (r) { return r[1]; } },
      { name: "B", get: function (r) { return r[2]; } },
      { name: "frames A→B", num: true, get: function (r) { return r[3]; } },
      { name: "bytes A→B", num: true, get: function (r) { return r[4]; }, show: function (r) { return fmtBytes(r[4]); } },
      { name: "frames B→A", num: true, get: function (r) { return r[5]; } },
      { name: "bytes B→A", num: true, get: function (r) { return r[6]; }, show: function (r) { return fmtBytes(r[6]); } },
      { name: "start (s)", num: true, get: function (r) { return r[7]; }, show: function (r) { return r[7].toFixed(3); } },
      { name: "duration", num: true, get: function (r) { return r[8]; }, show: function (r) { return fmtS(r[8]); } },
      { name: "ended", get: function (r) { return r[9] + (r[10] ? " by " + r[10] : ""); } },
      { name: "longest idle", num: true, get: function (r) { return r[11]; }, show: function (r) { return fmtS(r[11]); } },
      { name: "heartbeat", num: true, get: function (r) { return r[12]; }, show: function (r) { return r[12] === null ? "" : fmtS(r[12]); } }
    ], rows, { page: 100, cls: "conv" });
  }

  function drawHttp() {
    var box = document.getElementById("http-body"), H = D.http;
    if (!H.connections_total) { h("p", {}, box, "No HTTP/1.x traffic in this capture."); return; }
    h("p", { "class": "note" }, box, H.connections_total + " HTTP connection(s), " + H.faulty_total +
      " badly framed message(s). Faulty and reset connections first; click a column to sort." +
      (H.connections_total > H.connections.length ? " Showing " + H.connections.length + "." : ""));
    H.servers.forEach(function (sv) {
      if (!sv[1].length) return;
      var p = h("p", {}, box); h("b", {}, p, "Server " + sv[0] + ": "); h("span", {}, p, sv[1].join(" "));
    });
    var maxReq = 1;
    H.connections.forEach(function (c) { if (c[3] > maxReq) maxReq = c[3]; });
    var drawn = {};
    D.streams.forEach(function (s) { drawn[s.stream] = true; });
    // A drawn connection's stream links to its timeline and lights up its exchanges there.
    function evidenceCell(td, stream, frames, text) {
      if (!drawn[stream]) { td.textContent = text; return; }
      h("a", { "class": "evidence", href: "#s-" + stream, "data-stream": stream, "data-frames": frames.join(","),
        title: "show on the timeline" }, td, text);
    }
    table(box, [
      { name: "stream", num: true, get: function (r) { return r[0]; }, html: function (r, td) { evidenceCell(td, r[0], r[10], String(r[0])); } },
      { name: "client", get: function (r) { return r[1]; } },
      { name: "server", get: function (r) { return r[2]; } },
      { name: "requests", num: true, get: function (r) { return r[3]; }, html: function (r, td) {
        var svg = el("svg", { viewBox: "0 0 120 12", width: 120, height: 12, style: "display:inline-block;width:120px;vertical-align:middle" }, td);
        el("rect", { x: 0, y: 1, width: Math.max(1, 120 * r[3] / maxReq), height: 10, "class": "bar" }, svg);
        td.appendChild(document.createTextNode(" " + r[3])); } },
      { name: "responses", num: true, get: function (r) { return r[4]; } },
      { name: "longest idle", num: true, get: function (r) { return r[5]; }, show: function (r) { return fmtS(r[5]); } },
      { name: "ended", get: function (r) { return r[6]; }, html: function (r, td) { td.title = r[7]; td.textContent = r[6].replace(/_/g, " "); } },
      { name: "faulty", num: true, get: function (r) { return r[8]; } }
    ], H.connections.slice(), { page: 50 });
    if (H.faults.length) {
      h("h3", {}, box, "Framing faults");
      table(box, [
        { name: "stream", num: true, get: function (r) { return r[0]; }, html: function (r, td) { streamCell(r, td, 0, drawn[r[0]]); } },
        { name: "frame", num: true, get: function (r) { return r[1] || r[5]; }, html: function (r, td) { evidenceCell(td, r[0], [r[5]], String(r[1] || r[5])); } },
        { name: "at (s)", num: true, get: function (r) { return r[4]; }, show: function (r) { return r[4].toFixed(3); } },
        { name: "message", get: function (r) { return r[2]; } },
        { name: "what is wrong", get: function (r) { return r[3].join("; "); } }
      ], H.faults.slice(), { page: 50 });
    }
  }

  // ---- evidence links: highlight the frames a finding cites --------------------------------
  function wireEvidence() {
    // Delegated: the tables redraw their rows (sorting, paging), and their links are evidence too.
    document.addEventListener("click", function (ev) {
      var a = ev.target && ev.target.closest ? ev.target.closest("a.evidence[data-frames]") : null;
      if (!a) return;
      (function () {
        document.querySelectorAll("svg .hl").forEach(function (n) { n.remove(); });
        document.querySelectorAll(".stream.target").forEach(function (n) { n.classList.remove("target"); });
        var box = document.getElementById("s-" + a.getAttribute("data-stream"));
        if (!box) return;
        box.classList.add("target");
        var frames = a.getAttribute("data-frames").split(",");
        box.querySelectorAll("[data-frame]").forEach(function (n) {
          if (frames.indexOf(n.getAttribute("data-frame")) < 0) return;
          var bb = n.getBBox();
          el("rect", { x: bb.x - 3, y: bb.y - 3, width: bb.width + 6, height: bb.height + 6, "class": "hl" }, n.ownerSVGElement || n);
        });
      })();
    });
    function target() {
      document.querySelectorAll("li.finding.active").forEach(function (n) { n.classList.remove("active"); });
      var m = /^#f-(\d+)$/.exec(location.hash);
      if (!m) return;
      var li = document.getElementById("f-" + m[1]);
      if (!li) return;
      li.classList.add("active");
      // A finding folded away under "N more": unfold it so the link lands on something visible.
      for (var p = li.parentNode; p; p = p.parentNode) { if (p.tagName === "DETAILS") p.open = true; }
      li.scrollIntoView();
    }
    window.addEventListener("hashchange", target); target();
  }

  try {
    drawStreams();
    drawHttp();
    drawConversations();
    wireEvidence();
  } catch (e) {
    fail(e && e.stack ? e.stack : e);
  }
  if (!errors.length) document.body.setAttribute("data-status", "ok");
})();
