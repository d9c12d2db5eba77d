// Live updates: one EventSource per page (the URL is in [data-live-src], set by the server
// for pages that can change while open). The server pushes
//   event: fragment  data: {"id": "<element id>", "html": "<the element's new HTML>"}
//   event: status    data: live | down   (down: the server lost the event bus)
// and each fragment replaces the element with that id. A fragment that holds the focused
// field or a field the user has changed waits until the user leaves it, so typing is never
// lost. While a dialog is open (app.js's confirm) every fragment waits, and the latest of
// each goes in once it closes: a swap must not take away the form a user is confirming.
// After a swap the document gets a "cockpit:swap" event (detail.id, detail.el), so
// other scripts can bind handlers in the new content.
// When the stream breaks (server restart, network), it reconnects with exponential backoff
// and jitter; the server sends every fragment to a new stream, so the page catches up
// without a reload.
(function () {
  "use strict";
  var indicator = document.querySelector("[data-live-src]");
  if (!indicator) return;
  var label = indicator.querySelector("[data-live-label]");
  var src = indicator.getAttribute("data-live-src");
  var SVG_NS = "http://www.w3.org/2000/svg";
  var MIN_DELAY = 500, MAX_DELAY = 15000;
  var delay = MIN_DELAY, es = null, timer = null, held = {};

  var labels = {
    connecting: ["Connecting…", "Connecting to live updates"],
    live: ["Live", "This page updates itself as the engine works"],
    down: ["Live paused", "The server lost its event bus; changes show up when it is back"],
    reconnecting: ["Reconnecting…", "The live connection broke; trying again"],
    busy: ["Not live: server busy", "The server has as many live pages open as it serves; reload this page to see changes (it tries again later)"],
    off: ["Not live", "This browser cannot receive live updates; reload to see changes"]
  };
  function setState(state) {
    indicator.setAttribute("data-state", state);
    if (label) label.textContent = labels[state][0];
    indicator.title = labels[state][1];
  }

  // A fragment waits while the user works in it. Fields marked data-live-restored (the
  // instance list's selection boxes) do not hold it: app.js puts their state back after
  // the swap (cockpit:swap).
  function busy(el) {
    var a = document.activeElement;
    if (a && a !== document.body && el.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) &&
      !a.hasAttribute("data-live-restored")) return true;
    var fields = el.querySelectorAll ? el.querySelectorAll("input, textarea, select") : [];
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.hasAttribute("data-live-restored")) continue;
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) return true;
      } else if (f.tagName === "SELECT") {
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].selected !== f.options[j].defaultSelected) return true;
        }
      } else if (f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  // parse builds the new element in the namespace of the one it replaces (an SVG <g>
  // parsed as HTML would be an unknown HTML element).
  function parse(html, old) {
    var t = document.createElement("template");
    if (old instanceof SVGElement && !(old instanceof SVGSVGElement)) {
      t.innerHTML = '<svg xmlns="' + SVG_NS + '">' + html + "</svg>";
      var svg = t.content.firstElementChild;
      return svg && svg.firstElementChild;
    }
    t.innerHTML = html;
    return t.content.firstElementChild;
  }

  function dialogOpen() { return document.querySelector("dialog[open]") !== null; }
  function markHeld() {
    var n = Object.keys(held).length;
    if (n) indicator.setAttribute("data-held", String(n));
    else indicator.removeAttribute("data-held");
  }

  function swap(id, html) {
    var old = document.getElementById(id);
    if (!old) return;
    if (dialogOpen() || busy(old)) { held[id] = html; markHeld(); return; }
    delete held[id];
    markHeld();
    var el = parse(html, old);
    if (!el || old.isEqualNode(el)) return;
    // Keep what the reader opened.
    var open = {};
    old.querySelectorAll("details[open]").forEach(function (d, i) { open[detailsKey(d, i)] = true; });
    el.querySelectorAll("details").forEach(function (d, i) { if (open[detailsKey(d, i)]) d.open = true; });
    old.replaceWith(el);
    if (!(el instanceof SVGElement)) {
      el.classList.add("live-updated");
      setTimeout(function () { el.classList.remove("live-updated"); }, 1200);
    }
    document.dispatchEvent(new CustomEvent("cockpit:swap", { detail: { id: id, el: el } }));
  }
  function detailsKey(d, i) {
    var s = d.querySelector("summary");
    return (s ? s.textContent : "") + "#" + i;
  }

  // Held fragments go in once the user leaves them, or closes the dialog ("close" does
  // not bubble: caught on the way down). After the dialog's own close handler, which may
  // have posted the form.
  function flushHeld() {
    setTimeout(function () {
      Object.keys(held).forEach(function (id) { swap(id, held[id]); });
    }, 0);
  }
  document.addEventListener("focusout", flushHeld);
  document.addEventListener("close", flushHeld, true);

  function connect() {
    timer = null;
    es = new EventSource(src);
    es.addEventListener("status", function (ev) {
      delay = MIN_DELAY;
      setState(ev.data === "live" ? "live" : "down");
    });
    es.addEventListener("fragment", function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f && f.id) swap(f.id, f.html || "");
    });
    es.onerror = function () {
      // EventSource retries by itself only after some failures; take over so every
      // failure backs off the same way. A stream refused over the server's limits
      // (429/503, which EventSource does not show) is told by a HEAD request: the page
      // then says it is not live and tries again after Retry-After.
      es.close();
      es = null;
      setState("reconnecting");
      var wait = delay + Math.random() * delay / 2;
      delay = Math.min(delay * 2, MAX_DELAY);
      fetch(src, { method: "HEAD", cache: "no-store" }).then(function (r) {
        if (r.status === 429 || r.status === 503) {
          setState("busy");
          var after = parseInt(r.headers.get("Retry-After") || "", 10);
          if (after > 0) wait = Math.max(wait, after * 1000 + Math.random() * 5000);
        }
      }, function () {}).then(function () {
        if (!es && !timer) timer = setTimeout(connect, wait);
      });
    };
  }

  if (!window.EventSource) { setState("off"); return; }
  setState("connecting");
  connect();
  // A page put in the back/forward cache closes its stream; bring it back on return.
  window.addEventListener("pagehide", function () { if (es) { es.close(); es = null; } if (timer) { clearTimeout(timer); timer = null; } });
  window.addEventListener("pageshow", function (ev) { if (ev.persisted && !es && !timer) connect(); });
})();
