// Progressive enhancement: every [data-live-src] region re-fetches its server-rendered figures
// every data-refresh-seconds. Without JavaScript the page is the same, only static.
(function () {
  "use strict";
  var statuses = document.querySelectorAll("[data-live-status]");
  function say(text) {
    statuses.forEach(function (el) { el.textContent = text; });
  }
  document.querySelectorAll("[data-live-src]").forEach(function (region) {
    var every = Math.max(1, Number(region.getAttribute("data-refresh-seconds")) || 5) * 1000;
    function refresh() {
      fetch(region.getAttribute("data-live-src"), { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) {
            say("Signed out: reload the page to sign in again.");
            return null;
          }
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          if (html === null) {
            return;
          }
          region.innerHTML = html;  // rendered and escaped by the server's templates
          region.setAttribute("data-refreshed-at", new Date().toISOString());
          say("Updated " + new Date().toLocaleTimeString() + ".");
          setTimeout(refresh, every);
        })
        .catch(function () {
          say("Cannot reach the server; retrying.");
          setTimeout(refresh, every);
        });
    }
    setTimeout(refresh, every);
  });
})();
