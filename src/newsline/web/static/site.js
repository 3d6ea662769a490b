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

  // The link is kept: by the time a promise settles, event.currentTarget is null.
  on("[data-share]", function (event) {
    var link = event.currentTarget;
    var url = link.getAttribute("href");
    if (navigator.share) {
      event.preventDefault();
      navigator.share({ title: document.title, url: url }).catch(function () {});
    } else if (navigator.clipboard && window.isSecureContext) {
      event.preventDefault();
      navigator.clipboard.writeText(url).then(function () {
        link.textContent = "Link copied";
      }, function () {
        window.location.href = url;
      });
    }
  });

  // `back` returns where the reader came from when that was a page of this site.
  on("[data-back]", function (event) {
    var from = document.referrer;
    if (!from || window.history.length < 2) return;
    var here = window.location;
    try {
      var came = new URL(from);
      if (came.origin !== here.origin || came.href === here.href) return;
    } catch (e) {
      return;
    }
    event.preventDefault();
    window.history.back();
  });

  // The topic strip scrolls sideways: fade its right edge only while pills are hidden there.
  var strip = document.querySelector(".tagbar");
  function fade() {
    if (!strip) return;
    var hidden = strip.scrollWidth - strip.clientWidth - strip.scrollLeft > 4;
    strip.classList.toggle("at-end", !hidden);
  }
  if (strip) {
    strip.addEventListener("scroll", fade, { passive: true });
    window.addEventListener("resize", fade);
    fade();
    var current = strip.querySelector('[aria-current="page"]');
    if (current && current.offsetLeft + current.offsetWidth > strip.clientWidth) {
      strip.scrollLeft = current.offsetLeft - 24;
    }
  }

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
