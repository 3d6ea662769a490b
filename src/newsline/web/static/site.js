// newsline: reader options (dark, dense) and the online heartbeat. No inline script anywhere.
(function () {
  "use strict";
  var root = document.documentElement;

  function isDark() {
    if (root.classList.contains("theme-dark")) return true;
    if (root.classList.contains("theme-light")) return false;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function on(selector, handler) {
    var nodes = document.querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i++) nodes[i].addEventListener("click", handler);
  }

  // The option links set their cookie on the server (HttpOnly, like every cookie of the
  // site) and come back; the script only picks the theme the reader actually sees, which
  // may be the system's.
  on('[data-toggle="theme"]', function (event) {
    var link = event.currentTarget;
    var url = new URL(link.getAttribute("href"), window.location.href);
    url.searchParams.set("theme", isDark() ? "light" : "dark");
    link.setAttribute("href", url.pathname + url.search);
  });

  on("[data-share]", function (event) {
    var url = event.currentTarget.getAttribute("href");
    if (navigator.share) {
      event.preventDefault();
      navigator.share({ title: document.title, url: url }).catch(function () {});
    } else if (navigator.clipboard && window.isSecureContext) {
      event.preventDefault();
      navigator.clipboard.writeText(url).then(function () {
        event.currentTarget.textContent = "Link copied";
      });
    }
  });

  // Online count: a heartbeat every 10 s while the page is visible.
  var counter = document.getElementById("online");
  var beatUrl = counter && counter.getAttribute("data-url");
  if (!beatUrl || !window.fetch) return;

  function beat() {
    if (document.visibilityState === "hidden") return;
    fetch(beatUrl, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (data && typeof data.online === "number") counter.textContent = String(data.online);
    }).catch(function () { /* offline: keep the last count */ });
  }
  beat();
  window.setInterval(beat, 10000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") beat();
  });
})();
