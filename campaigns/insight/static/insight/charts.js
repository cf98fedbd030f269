/* Draws the insight pages' charts with the project's copy of ECharts (no CDN: works offline).
 *
 * Each page puts its chart specs in <script id="insight-charts" type="application/json"> (Django's
 * json_script) and a <div class="insight-chart" data-chart="KEY"> per chart. A spec says what to
 * draw: kind (line, bar, pie, matrix, heatmap), categories, series [{name, data, type, yAxis}],
 * unit (count, cny, points, percent), yCategories (heatmap, matrix) and an optional target line.
 * Labels come translated from the server; ECharts' own words (toolbox, "save as image") follow
 * the page's language.
 */
(function () {
  "use strict";

  var lang = (document.documentElement.lang || "").toLowerCase();
  var locale = lang.indexOf("zh") === 0 ? "ZH" : "EN";
  var numberLocale = locale === "ZH" ? "zh-CN" : "en-US";
  var palette = ["#2f6fb0", "#e3832f", "#3aa57a", "#c4473f", "#8a63b8", "#7a8591", "#d4a72c", "#3c9fb8", "#b05c8a"];

  // Dates may skip labels (the neighbours say which day it is); names (segments, stores) may
  // not, so every one is shown, slanted when they are many.
  function namedAxisLabel(categories) {
    var dated = categories.length && /^\d{2,4}[-W]/.test(String(categories[0]));
    if (dated || categories.length > 24) return { hideOverlap: true };
    return { interval: 0, rotate: categories.length > 6 ? 30 : 0 };
  }

  function formatter(unit) {
    return function (value) {
      if (value === null || value === undefined || value === "") return "—";
      if (unit === "percent") return (value * 100).toFixed(1) + "%";
      var digits = unit === "cny" ? 2 : 0;
      return Number(value).toLocaleString(numberLocale, { minimumFractionDigits: 0, maximumFractionDigits: digits });
    };
  }

  function toolbox() {
    return { right: 8, feature: { saveAsImage: { pixelRatio: 2 }, dataView: { readOnly: true } } };
  }

  function cartesian(spec) {
    var fmt = formatter(spec.unit);
    var twoAxes = spec.series.some(function (s) { return s.yAxis === 1; });
    var option = {
      color: palette,
      tooltip: { trigger: "axis", valueFormatter: fmt },
      legend: { top: 0, left: 0, type: "scroll", right: 90 },
      grid: { left: 8, right: twoAxes ? 8 : 16, top: 40, bottom: 8, containLabel: true },
      toolbox: toolbox(),
      xAxis: { type: "category", data: spec.categories, axisLabel: namedAxisLabel(spec.categories) },
      yAxis: [{ type: "value", axisLabel: { formatter: fmt }, minInterval: spec.unit === "count" || spec.unit === "points" ? 1 : 0 }],
      series: spec.series.map(function (s) {
        return {
          name: s.name,
          type: s.type || spec.kind,
          data: s.data,
          yAxisIndex: s.yAxis || 0,
          stack: s.stack,
          areaStyle: s.area ? {} : undefined,
          connectNulls: true,
          emphasis: { focus: "series" }
        };
      })
    };
    if (twoAxes) option.yAxis.push({ type: "value", splitLine: { show: false }, minInterval: 1 });
    if (spec.target !== null && spec.target !== undefined && option.series.length) {
      option.series[0].markLine = { symbol: "none", data: [{ yAxis: spec.target, name: "target" }], label: { formatter: fmt(spec.target) } };
    }
    return option;
  }

  function pie(spec) {
    var fmt = formatter(spec.unit);
    return {
      color: palette,
      tooltip: { trigger: "item", valueFormatter: fmt },
      legend: { top: 0, left: 0, type: "scroll", right: 90 },
      toolbox: toolbox(),
      series: [{
        name: spec.series[0].name,
        type: "pie",
        radius: ["35%", "65%"],
        top: 30,
        data: spec.categories.map(function (c, i) { return { name: c, value: spec.series[0].data[i] }; }),
        label: { formatter: "{b}: {d}%" }
      }]
    };
  }

  function heatmap(spec) {
    // data: [x, y, value] (a retention cohort: share still buying)
    var fmt = formatter(spec.unit);
    var values = spec.series[0].data.map(function (d) { return d[2]; }).filter(function (v) { return v !== null; });
    var max = values.length ? Math.max.apply(null, values) : 1;
    return {
      tooltip: { position: "top", formatter: function (p) { return spec.yCategories[p.value[1]] + " → " + spec.categories[p.value[0]] + ": " + fmt(p.value[2]); } },
      toolbox: toolbox(),
      grid: { left: 8, right: 16, top: 30, bottom: 60, containLabel: true },
      xAxis: { type: "category", data: spec.categories, splitArea: { show: true } },
      yAxis: { type: "category", data: spec.yCategories, splitArea: { show: true }, inverse: true },
      visualMap: { min: 0, max: max || 1, dimension: 2, calculable: true, orient: "horizontal", left: "center", bottom: 0, formatter: fmt, inRange: { color: ["#f3f7fb", "#2f6fb0"] } },
      series: [{ name: spec.series[0].name, type: "heatmap", data: spec.series[0].data, label: { show: spec.categories.length <= 13, formatter: function (p) { return fmt(p.value[2]); } } }]
    };
  }

  function matrix(spec) {
    // data: [x, y, members, segment name, sales]: the eight RFM segments in a grid
    var fmt = formatter("count");
    var money = formatter("cny");
    var counts = spec.series[0].data.map(function (d) { return d[2]; });
    var max = counts.length ? Math.max.apply(null, counts) : 1;
    return {
      tooltip: { formatter: function (p) { return p.value[3] + "<br>" + fmt(p.value[2]) + " · ¥" + money(p.value[4]); } },
      toolbox: toolbox(),
      grid: { left: 8, right: 16, top: 30, bottom: 60, containLabel: true },
      xAxis: { type: "category", data: spec.categories, position: "top" },
      yAxis: { type: "category", data: spec.yCategories, inverse: true },
      visualMap: { min: 0, max: max || 1, dimension: 2, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#fbf3ea", "#e3832f"] } },
      series: [{
        name: spec.series[0].name,
        type: "heatmap",
        data: spec.series[0].data,
        label: { show: true, formatter: function (p) { return p.value[3] + "\n" + fmt(p.value[2]); } }
      }]
    };
  }

  function draw(spec) {
    var box = document.querySelector('.insight-chart[data-chart="' + spec.key + '"]');
    if (!box || !window.echarts) return;
    var chart = window.echarts.init(box, null, { locale: locale, renderer: "canvas" });
    var option;
    if (spec.kind === "pie") option = pie(spec);
    else if (spec.kind === "heatmap") option = heatmap(spec);
    else if (spec.kind === "matrix") option = matrix(spec);
    else option = cartesian(spec);
    option.aria = { enabled: true };
    chart.setOption(option);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function start() {
    var source = document.getElementById("insight-charts");
    if (!source) return;
    JSON.parse(source.textContent).forEach(draw);
  }

  // The period presets: a custom period shows its two dates, the others hide them.
  function periodFields() {
    var period = document.getElementById("id_period");
    if (!period) return;
    var toggle = function () {
      document.querySelectorAll(".insight-custom").forEach(function (el) {
        el.hidden = period.value !== "custom";
      });
    };
    period.addEventListener("change", toggle);
    toggle();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { start(); periodFields(); });
  } else {
    start();
    periodFields();
  }
})();
