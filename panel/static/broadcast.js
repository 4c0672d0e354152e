// Broadcast pages: a live character counter while composing, and live
// delivery figures on the list.
(function () {
  // The length the preview shows and Telegram applies, counted as the server does
  // (services/delivery/broadcasts.py prepare, services/delivery/html.py): a line break
  // is one character, the ends are trimmed, tags (html.py's TAG) are formatting, and
  // character references ending in ";" are what they stand for. In UTF-16 units, which
  // is what JavaScript string lengths are.
  var TAG = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[^\s=<>"'\/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s<>"']+))?)*)\s*\/?>/g;
  var REFERENCE = /&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);/g;
  var decoder = document.createElement("textarea");
  var decode = function (reference) {
    decoder.innerHTML = reference;
    // A whole reference stands for at most two units; more means the browser read only a
    // legacy prefix ("&notit;" as "¬it;"), which the server keeps as typed.
    return decoder.value.length <= 2 ? decoder.value : reference;
  };
  window.telegramLength = function (source) {
    return source.replace(/\r\n?/g, "\n").trim().replace(TAG, "").replace(REFERENCE, decode).length;
  };

  var text = document.getElementById("text");
  var counter = document.getElementById("counter");
  if (text && counter) {
    var max = parseInt(text.getAttribute("data-max-length"), 10);
    var update = function () {
      var length = window.telegramLength(text.value);
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
