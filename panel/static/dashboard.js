// Draws the dashboard charts from the JSON the page embeds (no CDN, no extra request).
(function () {
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var palette = ["#2a9fd6", "#77b300", "#9933cc", "#ff8800", "#cc0000",
                 "#20c997", "#6f42c1", "#fd7e14", "#e83e8c", "#6c757d", "#adb5bd"];
  var statusColors = {pending: "#ffc107", sending: "#17a2b8", sent: "#28a745",
                      failed: "#dc3545", cancelled: "#6c757d"};
  window.leadgramCharts = [];

  function draw(id, config) {
    config.options = Object.assign({responsive: true, animation: false}, config.options || {});
    window.leadgramCharts.push(new Chart(document.getElementById(id), config));
  }

  draw("chart-leads-per-day", {
    type: "line",
    data: {
      labels: data.leadsPerDay.map(function (row) { return row[0].slice(5); }),
      datasets: [{label: "Leads", data: data.leadsPerDay.map(function (row) { return row[1]; }),
                  borderColor: palette[0], backgroundColor: "rgba(42,159,214,0.15)",
                  fill: true, cubicInterpolationMode: "monotone"}]
    },
    options: {plugins: {legend: {display: false}},
              scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
  });
  // Horizontal bars, a row each (the server sends the top countries and "Other"): the box
  // grows with the bars, so Chart.js need not skip every other label to fit them.
  var countries = document.getElementById("chart-leads-by-country");
  countries.parentNode.style.height = Math.max(220, 24 * data.leadsByCountry.length + 40) + "px";
  draw("chart-leads-by-country", {
    type: "bar",
    data: {
      labels: data.leadsByCountry.map(function (row) { return row[0]; }),
      datasets: [{label: "Leads", data: data.leadsByCountry.map(function (row) { return row[1]; }),
                  backgroundColor: palette, maxBarThickness: 24}]
    },
    options: {indexAxis: "y", maintainAspectRatio: false, plugins: {legend: {display: false}},
              scales: {x: {beginAtZero: true, ticks: {precision: 0}},
                       y: {ticks: {autoSkip: false}}}}
  });
  draw("chart-outbox-by-status", {
    type: "doughnut",
    data: {
      labels: data.outboxByStatus.map(function (row) { return row[0]; }),
      datasets: [{data: data.outboxByStatus.map(function (row) { return row[1]; }),
                  backgroundColor: data.outboxByStatus.map(function (row) {
                    return statusColors[row[0]] || "#adb5bd"; })}]
    },
    options: {plugins: {legend: {position: "bottom"}}}
  });

  if (!data.ordersByStatus) { return; }  // the shop is off: no shop charts on the page
  // A trend point is a day ("03-10"), or a week named by its first day; the year shows
  // only when the points span more than one.
  function pointLabels(rows) {
    var years = {};
    rows.forEach(function (row) { years[row[0].slice(0, 4)] = true; });
    var sameYear = Object.keys(years).length <= 1;
    return rows.map(function (row) {
      var day = sameYear ? row[0].slice(5) : row[0];
      return data.trendBy === "week" ? "wk " + day : day;
    });
  }
  var dollars = new Intl.NumberFormat("en-US", {style: "currency", currency: "USD"});
  draw("chart-revenue-trend", {
    type: "line",
    data: {
      labels: pointLabels(data.revenueTrend),
      datasets: [{label: "Revenue", data: data.revenueTrend.map(function (row) { return row[1]; }),
                  borderColor: palette[1], backgroundColor: "rgba(119,179,0,0.15)",
                  fill: true, cubicInterpolationMode: "monotone"}]
    },
    options: {plugins: {legend: {display: false},
                        tooltip: {callbacks: {label: function (item) { return dollars.format(item.raw); }}}},
              scales: {y: {beginAtZero: true, ticks: {callback: function (value) {
                return dollars.format(value); }}}}}
  });
  draw("chart-user-growth", {
    type: "line",
    data: {
      labels: pointLabels(data.userGrowth),
      datasets: [{label: "New customers", data: data.userGrowth.map(function (row) { return row[1]; }),
                  borderColor: palette[0], backgroundColor: palette[0], cubicInterpolationMode: "monotone"},
                 {label: "First orders", data: data.userGrowth.map(function (row) { return row[2]; }),
                  borderColor: palette[3], backgroundColor: palette[3], cubicInterpolationMode: "monotone"}]
    },
    options: {plugins: {legend: {position: "bottom"}},
              scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
  });
  var orderColors = {pending: "#ffc107", processing: "#17a2b8", assigned: "#2a9fd6",
                     completed: "#28a745", cancelled: "#6c757d"};
  draw("chart-orders-by-status", {
    type: "doughnut",
    data: {
      labels: data.ordersByStatus.map(function (row) { return row[0]; }),
      datasets: [{data: data.ordersByStatus.map(function (row) { return row[1]; }),
                  backgroundColor: data.ordersByStatus.map(function (row) {
                    return orderColors[row[0]] || "#adb5bd"; })}]
    },
    options: {plugins: {legend: {position: "bottom"}}}
  });
  draw("chart-package-popularity", {
    type: "bar",
    data: {
      labels: data.packagePopularity.map(function (row) { return row[0]; }),
      datasets: [{label: "Orders", data: data.packagePopularity.map(function (row) { return row[1]; }),
                  backgroundColor: palette[1]}]
    },
    options: {plugins: {legend: {display: false}},
              scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
  });
})();
