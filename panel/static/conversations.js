// A conversation's page: newer messages (and delivery states) every 3 s without a
// reload, from server-rendered, escaped HTML; Ctrl+Enter sends; "Send by" shows why the
// chosen contact cannot get a message and, for SMS, how many parts the text takes;
// confirmations; and the profile form's Show buttons for the passport number and tax PIN.
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

  // SMS parts as carriers count them: services/delivery/sms_segments.py, the same rules.
  var GSM7_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM7_EXTENSION = "^{}\\[~]|€\f";
  var LIMITS = {"GSM-7": [160, 153], "UCS-2": [70, 67]};

  function smsCount(value) {
    var chars = Array.from(value);  // code points: an emoji is one, two UTF-16 units
    var gsm = chars.every(function (ch) {
      return GSM7_BASIC.indexOf(ch) >= 0 || GSM7_EXTENSION.indexOf(ch) >= 0;
    });
    var kind = gsm ? "GSM-7" : "UCS-2";
    var sizes = chars.map(function (ch) {
      return gsm ? (GSM7_EXTENSION.indexOf(ch) >= 0 ? 2 : 1) : ch.length;
    });
    var total = sizes.reduce(function (a, b) { return a + b; }, 0);
    var parts = total ? 1 : 0;
    if (total > LIMITS[kind][0]) {
      var used = 0;
      sizes.forEach(function (size) {
        if (used + size > LIMITS[kind][1]) { parts += 1; used = 0; }  // never split a pair
        used += size;
      });
    }
    return {encoding: kind, characters: total, segments: parts};
  }

  var via = document.getElementById("composer-via");
  var smsBox = document.getElementById("sms-count");

  function showSmsCount() {
    if (!smsBox || !text) { return; }
    // The form posts "\r\n" as "\n" after plain_text: count what will be sent.
    var counted = smsCount(text.value.replace(/\r\n?/g, "\n").trim());
    document.getElementById("sms-count-text").textContent = counted.characters + " characters · " +
      counted.segments + " SMS part" + (counted.segments === 1 ? "" : "s") + " (" + counted.encoding + ")";
    document.getElementById("sms-too-long").hidden =
      counted.segments <= parseInt(smsBox.getAttribute("data-max"), 10);
  }

  function showDestination() {
    var chosen = via.options[via.selectedIndex];
    Array.prototype.forEach.call(document.querySelectorAll("[data-refusal-for]"), function (el) {
      var mine = el.getAttribute("data-refusal-for") === chosen.value;
      el.hidden = !mine;
      if (mine) { el.id = "send-problem"; } else { el.removeAttribute("id"); }
    });
    if (smsBox) { smsBox.hidden = chosen.getAttribute("data-channel") !== "sms"; }
    showSmsCount();
  }

  if (via) { via.addEventListener("change", showDestination); }
  if (text && smsBox) { text.addEventListener("input", showSmsCount); }

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
