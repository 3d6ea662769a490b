/* Comments, a little better with JavaScript: reply, edit and report inline, posted to the
   JSON API with the page's CSRF token; the answer is shown without a reload. Without this
   file every link leads to a plain form page, so nothing depends on it. */
(function () {
  "use strict";
  var section = document.getElementById("comments");
  if (!section || !window.fetch) return;
  var api = section.getAttribute("data-api");
  var tokenInput = section.querySelector("input[name=csrf_token]");
  var token = tokenInput ? tokenInput.value : "";
  if (!api || !token) return;

  function send(method, url, data) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: data ? JSON.stringify(data) : undefined
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          var detail = body && body.detail;
          throw new Error(typeof detail === "string" ? detail : "Not accepted (" + response.status + ").");
        }
        return body;
      });
    });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  function inlineForm(li, kind, initial, submitLabel) {
    var old = li.querySelector(".comment-inline");
    if (old) { old.remove(); return; }
    var form = el("form", { "class": "comment-form comment-inline" });
    var field = kind === "flag"
      ? el("input", { name: "reason", maxlength: "500", required: "", "aria-label": "Why should a moderator look at it?" })
      : el("textarea", { name: "body", rows: "4", maxlength: "10000", required: "", "aria-label": kind === "edit" ? "Your comment" : "Your reply" });
    field.value = initial || "";
    var error = el("p", { "class": "comment-error", role: "alert", hidden: "" });
    var button = el("button", { type: "submit" }, submitLabel);
    form.appendChild(field); form.appendChild(button); form.appendChild(error);
    li.appendChild(form);
    field.focus();
    return { form: form, field: field, error: error, button: button };
  }

  function commentNode(c, indent) {
    // Built with textContent everywhere but the body, which is the server's sanitized HTML.
    var li = el("li", { "class": "comment indent-" + Math.min(indent, 3) + " status-" + c.status + " mine", id: "c" + c.id, "data-id": String(c.id) });
    var meta = el("p", { "class": "comment-meta" });
    meta.appendChild(el("span", { "class": "comment-author" }, c.author));
    var link = el("a", { "class": "comment-link", href: c.url });
    link.appendChild(el("time", { datetime: c.created_at }, "just now"));
    meta.appendChild(link);
    li.appendChild(meta);
    if (c.status === "held") {
      li.appendChild(el("p", { "class": "comment-note" }, "Awaiting a moderator’s approval: only you can see it."));
    }
    var body = el("div", { "class": "comment-body" });
    body.innerHTML = c.body_html;
    li.appendChild(body);
    var base = c.url.split("#")[0];
    var actions = el("div", { "class": "comment-actions" });
    actions.appendChild(el("a", { "class": "comment-edit", href: base + "/edit" }, "Edit"));
    actions.appendChild(el("a", { "class": "comment-delete", href: base + "/delete" }, "Delete"));
    li.appendChild(actions);
    return li;
  }

  function subtreeEnd(li) {
    var depth = parseInt((li.className.match(/indent-(\d)/) || [0, 0])[1], 10);
    var next = li.nextElementSibling;
    var last = li;
    while (next && parseInt((next.className.match(/indent-(\d)/) || [0, 0])[1], 10) > depth) {
      last = next; next = next.nextElementSibling;
    }
    return last;
  }

  section.addEventListener("click", function (event) {
    var a = event.target.closest && event.target.closest("a.comment-reply, a.comment-edit, a.comment-flag");
    if (!a) return;
    var li = a.closest("li.comment");
    if (!li) return;
    event.preventDefault();
    var id = li.getAttribute("data-id");
    var kind = a.classList.contains("comment-reply") ? "reply" : a.classList.contains("comment-edit") ? "edit" : "flag";
    var initial = "";
    var ui = inlineForm(li, kind, initial, kind === "reply" ? "Post reply" : kind === "edit" ? "Save" : "Report");
    if (!ui) return;
    if (kind === "edit") {
      // The Markdown as written is not in the page: fetch the form page's text.
      fetch(a.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var area = doc.querySelector("textarea[name=body]");
        if (area && !ui.field.value) ui.field.value = area.value;
      });
    }
    ui.form.addEventListener("submit", function (e) {
      e.preventDefault();
      ui.button.disabled = true;
      ui.error.hidden = true;
      var done;
      if (kind === "reply") {
        done = send("POST", api, { body: ui.field.value, parent_id: parseInt(id, 10) }).then(function (c) {
          var indent = parseInt((li.className.match(/indent-(\d)/) || [0, 0])[1], 10) + 1;
          var node = commentNode(c, indent);
          var end = subtreeEnd(li);
          end.parentNode.insertBefore(node, end.nextSibling);
          ui.form.remove();
          node.scrollIntoView({ block: "nearest" });
        });
      } else if (kind === "edit") {
        done = send("PATCH", api + "/" + id, { body: ui.field.value }).then(function (c) {
          var body = li.querySelector(".comment-body");
          if (body) body.innerHTML = c.body_html;
          var meta = li.querySelector(".comment-meta");
          if (c.edited_at && meta && !meta.querySelector(".comment-edited")) {
            var when = meta.querySelector(".comment-link");
            meta.insertBefore(el("span", { "class": "comment-edited" }, "edited"), when ? when.nextSibling : null);
          }
          ui.form.remove();
        });
      } else {
        done = send("POST", api + "/" + id + "/flag", { reason: ui.field.value }).then(function () {
          ui.form.replaceWith(el("p", { "class": "comment-note" }, "Reported. Thank you: a moderator will look at it."));
        });
      }
      done.catch(function (err) {
        ui.error.textContent = err.message;
        ui.error.hidden = false;
        ui.button.disabled = false;
      });
    });
  });
})();
