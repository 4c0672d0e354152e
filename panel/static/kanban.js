// The pipeline board (/board/). Drag a card to another column, or pick a stage in the
// card's "Move to…" list: either way the card's own form (CSRF token included) is sent
// with fetch, and the server's JSON answer moves the card and updates the column counts,
// or says why the pipeline refused and leaves the card where it was. Without this file
// the same forms post normally. "N more" adds a column's next cards from its column page.
(function () {
  var board = document.getElementById("board");
  if (!board) { return; }
  var message = document.getElementById("board-message");
  var dragged = null;

  function say(text, ok) {
    message.textContent = text;  // text, never markup: the server's messages quote input
    message.className = "alert kanban-message " + (ok ? "alert-success" : "alert-danger");
    message.hidden = false;
  }

  function columnOf(stage) {
    return board.querySelector('.kanban-column[data-stage="' + CSS.escape(stage) + '"]');
  }

  function element(target) {
    return target && target.nodeType === 1 ? target : target && target.parentElement;
  }

  // The "N more" link: what is left after the cards shown, and where the next page starts.
  function updateMore(column, count) {
    var list = column.querySelector(".kanban-cards");
    var more = column.querySelector(".kanban-more");
    var empty = column.querySelector(".kanban-empty");
    if (empty) { empty.hidden = count > 0; }
    if (!list || !more) { return; }
    var left = count - list.children.length;
    if (left <= 0) { more.remove(); return; }
    more.textContent = left.toLocaleString("en-US") + " more";
    var url = new URL(more.getAttribute("href"), window.location.href);
    url.searchParams.set("offset", String(list.children.length));
    more.setAttribute("href", url.pathname + url.search);
  }

  function updateColumns(columns) {
    Object.keys(columns).forEach(function (stage) {
      var column = columnOf(stage);
      if (!column) { return; }
      column.querySelector('[data-field="count"]').textContent = columns[stage].count.toLocaleString("en-US");
      column.querySelector('[data-field="value"]').textContent = columns[stage].value;
      updateMore(column, columns[stage].count);
    });
  }

  // After a move: on top of its new column (the board's order is latest activity first),
  // or off this board (a final stage, or transferred to the sales pipeline).
  function place(card, lead) {
    card.setAttribute("data-allowed", lead.allowed.join(" "));
    var column = lead.pipeline === board.getAttribute("data-pipeline") ? columnOf(lead.stage) : null;
    var list = column && column.querySelector(".kanban-cards");
    if (!list) { card.remove(); return; }
    list.insertBefore(card, list.firstChild);
    Array.prototype.forEach.call(card.querySelectorAll('select[name="stage"] option'), function (option) {
      option.disabled = option.value === lead.stage;
    });
    card.querySelector('a').focus();
  }

  function refusal(text) {
    var error = new Error(text);
    error.refusal = true;
    return error;
  }

  function send(form) {
    var card = form.closest(".kanban-card");
    card.classList.add("kanban-busy");
    fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin",
                        headers: {"Accept": "application/json"}})
      .then(function (response) {
        if ((response.headers.get("Content-Type") || "").indexOf("application/json") === -1) {
          throw refusal(response.status === 401
            ? "Your session has ended: reload the page and log in again. Nothing was moved."
            : "The move was not saved: this page is out of date. Reload it and try again.");
        }
        return response.json();
      })
      .then(function (answer) {
        say(answer.message, answer.ok);
        if (answer.ok) {
          place(card, answer.lead);
          updateColumns(answer.columns);
        }
      })
      .catch(function (error) {
        say(error.refusal ? error.message
          : "The move was not saved: the panel could not be reached. Try again.", false);
      })
      .then(function () {
        form.querySelector('select[name="stage"]').value = "";
        card.classList.remove("kanban-busy");
      });
  }

  board.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList.contains("kanban-move")) { return; }
    event.preventDefault();
    send(form);
  });

  function clearMarks() {
    Array.prototype.forEach.call(board.querySelectorAll(".kanban-column"), function (column) {
      column.classList.remove("kanban-allowed", "kanban-over");
    });
    if (dragged) { dragged.classList.remove("kanban-dragging"); }
  }

  board.addEventListener("dragstart", function (event) {
    var card = element(event.target).closest(".kanban-card");
    if (!card) { return; }
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-lead-id"));
    card.classList.add("kanban-dragging");
    var allowed = (card.getAttribute("data-allowed") || "").split(" ");
    Array.prototype.forEach.call(board.querySelectorAll(".kanban-column"), function (column) {
      column.classList.toggle("kanban-allowed", allowed.indexOf(column.getAttribute("data-stage")) !== -1);
    });
  });

  board.addEventListener("dragend", function () {
    clearMarks();
    dragged = null;
  });

  board.addEventListener("dragover", function (event) {
    var column = element(event.target).closest(".kanban-column");
    if (!dragged || !column) { return; }
    event.preventDefault();  // a drop target
    event.dataTransfer.dropEffect = "move";
    Array.prototype.forEach.call(board.querySelectorAll(".kanban-over"), function (other) {
      if (other !== column) { other.classList.remove("kanban-over"); }
    });
    column.classList.add("kanban-over");
  });

  board.addEventListener("drop", function (event) {
    var column = element(event.target).closest(".kanban-column");
    var card = dragged;
    if (!card || !column) { return; }
    event.preventDefault();
    clearMarks();
    dragged = null;
    if (card.closest(".kanban-column") === column) { return; }
    var form = card.querySelector("form.kanban-move");
    form.querySelector('select[name="stage"]').value = column.getAttribute("data-stage");
    send(form);
  });

  board.addEventListener("click", function (event) {
    var more = element(event.target).closest(".kanban-more");
    if (!more) { return; }
    event.preventDefault();
    var list = more.closest(".kanban-column").querySelector(".kanban-cards");
    fetch(more.getAttribute("href"), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok || response.redirected) { throw refusal("The next cards could not be read: reload the page."); }
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        Array.prototype.forEach.call(page.querySelectorAll(".kanban-cards > .kanban-card"), function (card) {
          if (!document.getElementById(card.id)) { list.appendChild(document.importNode(card, true)); }
        });
        var next = page.querySelector(".kanban-more");
        if (next) {
          more.setAttribute("href", next.getAttribute("href"));
          more.textContent = next.textContent;
        } else {
          more.remove();
        }
      })
      .catch(function (error) {
        say(error.refusal ? error.message : "The panel could not be reached. Try again.", false);
      });
  });
})();
