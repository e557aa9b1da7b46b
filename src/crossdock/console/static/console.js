// The console's only script: live regions that refresh themselves. An element with
// data-refresh="URL" (a console fragment) and data-interval="MS" has its content replaced by a
// fresh GET of that URL every interval, while the page is visible and the keyboard focus is not
// inside it. No framework, no network access beyond this service.
(function () {
  "use strict";
  function refresh(element) {
    var url = element.getAttribute("data-refresh");
    if (!url || document.hidden) { return; }
    // A keyboard user working inside the region keeps their place: refresh once the focus leaves.
    if (element.contains(document.activeElement) && document.activeElement !== element) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null && html !== element.getAttribute("data-last")) {
          element.innerHTML = html;
          element.setAttribute("data-last", html);
          element.setAttribute("data-updated", String(Date.now()));
        }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  function start() {
    var live = document.querySelectorAll("[data-refresh]");
    Array.prototype.forEach.call(live, function (element) {
      var every = parseInt(element.getAttribute("data-interval") || "2000", 10);
      window.setInterval(function () { refresh(element); }, Math.max(500, every));
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
