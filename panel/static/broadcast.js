// Broadcast pages: a live character counter while composing, and live
// delivery figures on the list.
(function () {
  var text = document.getElementById("text");
  var counter = document.getElementById("counter");
  if (text && counter) {
    var max = parseInt(text.getAttribute("data-max-length"), 10);
    var update = function () {
      // Telegram counts what readers see (tags are formatting) in UTF-16 units,
      // which is what JavaScript string lengths are.
      var doc = new DOMParser().parseFromString(text.value, "text/html");
      var length = doc.body.textContent.trim().length;
      counter.textContent = length.toLocaleString();
      counter.parentNode.classList.toggle("text-danger", length > max);
    };
    text.addEventListener("input", update);
    update();
  }

  var table = document.getElementById("broadcasts");
  if (table) {
    var refresh = function () {
      var rows = table.querySelectorAll("tbody tr[data-id]");
      var query = Array.prototype.map.call(rows, function (row) {
        return "id=" + encodeURIComponent(row.getAttribute("data-id"));
      }).join("&");
      fetch(table.getAttribute("data-progress-url") + "?" + query,
            {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (progress) {
          if (!progress) { return; }
          Array.prototype.forEach.call(rows, function (row) {
            var p = progress[row.getAttribute("data-id")];
            if (!p) { return; }
            ["sent", "failed", "waiting"].forEach(function (field) {
              row.querySelector('[data-field="' + field + '"]').textContent = p[field];
            });
            row.querySelector('[data-field="success_rate"]').textContent =
              p.success_rate === null ? "—" : p.success_rate.toFixed(1) + "%";
          });
        })
        .catch(function () { /* offline for a moment: try again next tick */ });
    };
    setInterval(refresh, 3000);
  }
})();
