// newsline: reader options (dark, dense) and the online heartbeat. No inline script anywhere.
(function () {
  "use strict";
  var root = document.documentElement;
  var YEAR = 365 * 24 * 3600;

  function setCookie(name, value) {
    document.cookie = name + "=" + value + "; Path=/; Max-Age=" + YEAR + "; SameSite=Lax";
  }

  function isDark() {
    if (root.classList.contains("theme-dark")) return true;
    if (root.classList.contains("theme-light")) return false;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function on(selector, handler) {
    var nodes = document.querySelectorAll(selector);
    for (var i = 0; i < nodes.length; i++) nodes[i].addEventListener("click", handler);
  }

  on('[data-toggle="theme"]', function (event) {
    event.preventDefault();
    var next = isDark() ? "light" : "dark";
    root.classList.remove("theme-dark", "theme-light");
    root.classList.add("theme-" + next);
    setCookie("nl_theme", next);
  });

  on('[data-toggle="dense"]', function (event) {
    event.preventDefault();
    var dense = root.classList.toggle("dense");
    setCookie("nl_dense", dense ? "1" : "0");
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

  function visitorId() {
    var id = null;
    try {
      id = window.localStorage.getItem("nl_visitor");
    } catch (e) { /* storage disabled: one id per page view */ }
    if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      id = Array.prototype.map.call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
      try { window.localStorage.setItem("nl_visitor", id); } catch (e) { /* see above */ }
    }
    return id;
  }

  var visitor = visitorId();
  function beat() {
    if (document.visibilityState === "hidden") return;
    fetch(beatUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ visitor: visitor }),
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
