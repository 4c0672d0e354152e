// A conversation's page: newer messages (and delivery states) every 3 s without a
// reload, from server-rendered, escaped HTML; Ctrl+Enter sends; confirmations; and the
// profile form's Show buttons for the passport number and tax PIN.
(function () {
  var POLL_MS = 3000;
  var history = document.getElementById("history");
  var list = document.getElementById("chat-list");

  function nearBottom() {
    return history.scrollHeight - history.scrollTop - history.clientHeight < 80;
  }

  function scrollToBottom() {
    history.scrollTop = history.scrollHeight;
  }

  function lastDay() {
    var days = list.querySelectorAll("[data-day]");
    return days.length ? days[days.length - 1].getAttribute("data-day") : "";
  }

  function merge(html) {
    var box = document.createElement("template");
    box.innerHTML = html;
    var follow = nearBottom();
    var after = parseInt(history.getAttribute("data-after"), 10) || 0;
    Array.prototype.forEach.call(box.content.querySelectorAll(".poll-bubbles > li"), function (row) {
      var id = parseInt(row.getAttribute("data-message-id"), 10);
      if (row.classList.contains("chat-day")) {
        if (row.getAttribute("data-day") !== lastDay()) { list.appendChild(row); }
        return;
      }
      if (!id || document.getElementById("m" + id)) { return; }
      list.appendChild(row);
      after = Math.max(after, id);
    });
    history.setAttribute("data-after", String(after));
    Array.prototype.forEach.call(box.content.querySelectorAll(".poll-states [data-state-for]"), function (state) {
      var old = list.querySelector('#m' + state.getAttribute("data-state-for") + " [data-state-for]");
      if (old) { old.replaceWith(state); }
    });
    var empty = document.getElementById("no-messages");
    if (empty && list.querySelector("[data-message-id]")) { empty.hidden = true; }
    if (follow) { scrollToBottom(); }
  }

  function poll() {
    var query = "after=" + encodeURIComponent(history.getAttribute("data-after") || "0");
    Array.prototype.forEach.call(list.querySelectorAll("[data-pending]"), function (el) {
      query += "&pending=" + encodeURIComponent(el.getAttribute("data-pending"));
    });
    fetch(history.getAttribute("data-poll-url") + "?" + query,
          {credentials: "same-origin", headers: {"Accept": "text/html"}, cache: "no-store"})
      .then(function (response) {
        // Anything but our fragment (the login page after a session ended, an error) is skipped.
        if (!response.ok || response.headers.get("X-Leadgram-Fragment") !== "messages") { return null; }
        if (response.headers.get("X-Leadgram-More")) { window.location.reload(); return null; }
        return response.text();
      })
      .then(function (html) { if (html) { merge(html); } })
      .catch(function () { /* offline for a moment: try again next tick */ })
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }

  if (history && list) {
    scrollToBottom();
    // An older page (?before=) has no poll address: new messages show on the newest page.
    if (history.getAttribute("data-poll-url")) { window.setTimeout(poll, POLL_MS); }
  }

  var text = document.getElementById("composer-text");
  if (text) {
    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && text.value.trim()) {
        event.preventDefault();
        text.form.requestSubmit ? text.form.requestSubmit() : text.form.submit();
      }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-reveal]"), function (button) {
    var input = document.getElementById(button.getAttribute("data-reveal"));
    button.addEventListener("click", function () {
      var hidden = input.type === "password";
      input.type = hidden ? "text" : "password";
      button.textContent = hidden ? "Hide" : "Show";
    });
  });
})();
