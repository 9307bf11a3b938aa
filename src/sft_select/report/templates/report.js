// Draw every figure from the inline JSON, mark each plot once drawn (the browser test waits for
// body[data-ready]), and highlight the table-of-contents entry of the section in view.
(function () {
  "use strict";
  var figures = JSON.parse(document.getElementById("report-figures").textContent);
  var config = { displaylogo: false, responsive: true, displayModeBar: "hover" };

  // The map carries its points once ("points") and each trace the rows it draws (figures.expand_points).
  function expand(fig) {
    var shared = fig.points;
    if (!shared) return fig.data;
    return fig.data.map(function (t) {
      if (!t.rows) return t;
      var out = Object.assign({}, t);
      delete out.rows;
      ["x", "y", "hovertext"].forEach(function (k) { out[k] = t.rows.map(function (i) { return shared[k][i]; }); });
      return out;
    });
  }

  var jobs = [];
  document.querySelectorAll(".plot[data-fig]").forEach(function (el) {
    var fig = figures[el.dataset.fig];
    if (!fig) { el.textContent = "figure missing"; return; }
    jobs.push(Plotly.newPlot(el, expand(fig), fig.layout, config).then(function () { el.dataset.rendered = "1"; }));
  });
  Promise.all(jobs).then(
    function () {
      document.body.dataset.readyMs = String(Math.round(performance.now()));  // read by bench/report_load.py
      document.body.dataset.ready = "1";
    },
    function (err) { document.body.dataset.ready = "error"; console.error("report: a figure failed", err); }
  );

  var links = {};
  document.querySelectorAll(".toc a[href^='#']").forEach(function (a) { links[a.getAttribute("href").slice(1)] = a; });
  if ("IntersectionObserver" in window) {
    // The active entry is the first section, in page order, that is in the top part of the window.
    var sections = Array.from(document.querySelectorAll(".report-section, .view"));
    var visible = new Set();
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) visible.add(e.target); else visible.delete(e.target); });
      var first = sections.find(function (s) { return visible.has(s) && links[s.id]; });
      if (!first) return;
      document.querySelectorAll(".toc a.active").forEach(function (x) { x.classList.remove("active"); });
      links[first.id].classList.add("active");
    }, { rootMargin: "0px 0px -70% 0px" });
    sections.forEach(function (s) { observer.observe(s); });
  }
})();
