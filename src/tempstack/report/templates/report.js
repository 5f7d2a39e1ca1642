// Draws the charts from the JSON in #report-data. Without Chart.js or data, the page stays a
// plain document: every chart is optional and its canvas is only rendered when it has data.
(function () {
  "use strict";

  // Tables with class "sortable": a click on a heading with data-sort sorts by that column
  // (numbers from the cells' data-value), a second click reverses. Works without Chart.js.
  function sortable(table) {
    var heads = table.querySelectorAll("th[data-sort]");
    Array.prototype.forEach.call(heads, function (th) {
      th.addEventListener("click", function () {
        var index = Array.prototype.indexOf.call(th.parentNode.children, th);
        var numeric = th.getAttribute("data-sort") === "num";
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        function key(row) {
          var cell = row.cells[index];
          if (!cell) return numeric ? 0 : "";
          return numeric ? parseFloat(cell.getAttribute("data-value")) || 0
                         : cell.textContent.trim().toLowerCase();
        }
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var order = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);

  var source = document.getElementById("report-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.color = "#1f2328";
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.plugins.legend.position = "bottom";

  var COLORS = { rps: "#0969da", failures: "#cf222e", users: "#8c959f",
                 p50: "#2da44e", p95: "#bf8700", p99: "#8250df" };

  function round(v, digits) {
    var f = Math.pow(10, digits);
    return Math.round(v * f) / f;
  }
  function seconds(v) { return round(v, 3) + " s"; }
  function millis(v) { return v === null || v === undefined ? "–" : round(v, 1) + " ms"; }
  function shorten(text) { return text.length > 32 ? text.slice(0, 31) + "…" : text; }
  function byId(id) { return document.getElementById(id); }
  function points(xs, ys) {
    return xs.map(function (x, i) { return { x: x, y: ys[i] }; });
  }
  function line(label, pts, color, extra) {
    var ds = { label: label, data: pts, borderColor: color, backgroundColor: color,
               borderWidth: 2, pointRadius: 0, pointHitRadius: 6, tension: 0.2 };
    return Object.assign(ds, extra || {});
  }
  function timeAxis() {
    return { type: "linear", min: 0, title: { display: true, text: "seconds into the load" } };
  }

  function waterfall(w) {
    var canvas = byId("waterfall-chart");
    if (!canvas || !w || !w.labels.length) return;
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: w.labels,
        datasets: w.datasets.map(function (d) {
          return { label: d.label, data: d.data, backgroundColor: d.color, grouped: false,
                   skipNull: true, barPercentage: 0.75, categoryPercentage: 1, borderRadius: 2,
                   minBarLength: 2 };
        })
      },
      options: {
        indexAxis: "y",
        scales: {
          x: { type: "linear", min: 0, title: { display: true, text: "seconds into the run" } },
          y: { ticks: { autoSkip: false } }
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var r = ctx.raw;
                if (!Array.isArray(r)) return ctx.dataset.label;
                return ctx.dataset.label + ": " + seconds(r[0]) + " → " + seconds(r[1]) +
                  " (" + seconds(r[1] - r[0]) + ")";
              }
            }
          }
        }
      }
    });
  }

  function load(l) {
    var tl = l.timeline;
    var canvas = byId(l.id + "-throughput");
    if (canvas && tl.t.length) {
      new Chart(canvas, {
        type: "line",
        data: { datasets: [
          line("requests/s", points(tl.t, tl.rps), COLORS.rps),
          line("failures/s", points(tl.t, tl.failures_per_s), COLORS.failures),
          line("users", points(tl.t, tl.users), COLORS.users,
               { yAxisID: "users", stepped: true, borderDash: [4, 3], tension: 0 })
        ] },
        options: {
          interaction: { mode: "nearest", axis: "x", intersect: false },
          scales: {
            x: timeAxis(),
            y: { beginAtZero: true, title: { display: true, text: "per second" } },
            users: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                     title: { display: true, text: "users" }, ticks: { precision: 0 } }
          },
          plugins: { title: { display: true, text: "Throughput and users" } }
        }
      });
    }
    canvas = byId(l.id + "-latency");
    if (canvas && tl.t.length) {
      new Chart(canvas, {
        type: "line",
        data: { datasets: [
          line("p50", points(tl.t, tl.p50), COLORS.p50),
          line("p95", points(tl.t, tl.p95), COLORS.p95)
        ] },
        options: {
          interaction: { mode: "nearest", axis: "x", intersect: false },
          scales: { x: timeAxis(), y: { beginAtZero: true, title: { display: true, text: "ms" } } },
          plugins: {
            title: { display: true, text: "Latency over time" },
            tooltip: { callbacks: { label: function (ctx) {
              return ctx.dataset.label + ": " + millis(ctx.parsed.y);
            } } }
          }
        }
      });
    }
    var ep = l.endpoints;
    canvas = byId(l.id + "-endpoints");
    if (canvas && ep.labels.length) {
      new Chart(canvas, {
        type: "bar",
        data: {
          labels: ep.labels,
          datasets: ["p50", "p95", "p99"].map(function (k) {
            return { label: k, data: ep[k], backgroundColor: COLORS[k] };
          })
        },
        options: {
          scales: {
            x: { ticks: { callback: function (v) { return shorten(this.getLabelForValue(v)); } } },
            y: { beginAtZero: true, title: { display: true, text: "ms" } }
          },
          plugins: {
            title: { display: true, text: "Latency per endpoint" },
            tooltip: { callbacks: { label: function (ctx) {
              return ctx.dataset.label + ": " + millis(ctx.parsed.y);
            } } }
          }
        }
      });
    }
  }

  function memory(mem) {
    var canvas = byId("memory-chart");
    if (!canvas || !mem || !mem.labels.length) return;
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: mem.labels,
        datasets: [
          { label: "peak RSS", data: mem.peak, backgroundColor: COLORS.p95 },
          { label: "mean RSS", data: mem.mean, backgroundColor: COLORS.p50 }
        ]
      },
      options: {
        indexAxis: "y",
        scales: {
          x: { beginAtZero: true, title: { display: true, text: "MB" } },
          y: { ticks: { autoSkip: false } }
        },
        plugins: {
          tooltip: { callbacks: { label: function (ctx) {
            return ctx.dataset.label + ": " + round(ctx.parsed.x, 1) + " MB";
          } } }
        }
      }
    });
  }

  waterfall(data.waterfall);
  (data.load || []).forEach(load);
  memory(data.memory);
})();
