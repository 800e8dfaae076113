// leadflow console: live updates. Every two seconds, ask the server where the event log
// is; when it has moved, fetch this page again and swap in its <main>. No token is in
// the page (the session cookie is HttpOnly); nothing is loaded from anywhere else.
"use strict";
(function () {
  var main = document.getElementById("main");
  if (!main || main.getAttribute("data-live") !== "1") return;
  var seen = null;
  var busy = false;
  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("main");
        if (!next) return;
        var focused = document.activeElement && document.activeElement.id;
        main.replaceChildren.apply(main, Array.prototype.slice.call(next.childNodes));
        main.setAttribute("data-log-position", String(seen));
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        main.dispatchEvent(new CustomEvent("leadflow:updated", { bubbles: true }));
      });
  }
  function poll() {
    if (busy) return;
    busy = true;
    fetch("/console/live", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/signin"); return null; }
        return r.json();
      })
      .then(function (body) {
        if (!body || body.log_position === undefined) return null;
        var first = seen === null;
        var moved = !first && body.log_position !== seen;
        seen = body.log_position;
        main.setAttribute("data-log-position", String(seen));
        return moved ? refresh() : null;
      })
      .catch(function () { /* the server is away: try again on the next tick */ })
      .then(function () { busy = false; });
  }
  poll();
  window.setInterval(poll, 2000);
})();
