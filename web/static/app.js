// Cockpit's few behaviours. Pages work without this file; it adds comfort:
//   - the theme toggle (stored in localStorage; theme.js applies it before paint)
//   - "/" focuses the search box
//   - relative times ("3m ago") stay fresh
//   - pan and zoom of the diagram SVG (wheel, drag, buttons, keyboard), and clicks on a
//     diagram element follow the slot's link template
// No inline handlers anywhere: everything is bound here, so the CSP can forbid inline script.
(function () {
  "use strict";

  // Theme toggle.
  function currentTheme() {
    var t = document.documentElement.getAttribute("data-theme");
    if (t) return t;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function syncThemeButton(btn) {
    var dark = currentTheme() === "dark";
    btn.setAttribute("aria-pressed", dark ? "true" : "false");
    btn.querySelector("[data-theme-label]").textContent = dark ? "Dark" : "Light";
  }
  document.querySelectorAll("[data-theme-toggle]").forEach(function (btn) {
    syncThemeButton(btn);
    btn.addEventListener("click", function () {
      var next = currentTheme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", next);
      try { localStorage.setItem("cockpit-theme", next); } catch (e) { /* private mode */ }
      syncThemeButton(btn);
    });
  });

  // "/" focuses the search box unless the user is typing somewhere already.
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var search = document.querySelector("[data-search]");
    if (search) { ev.preventDefault(); search.focus(); search.select(); }
  });

  // Relative times. The server renders them; this keeps them current on a page left open.
  function rel(ms) {
    var s = Math.round(ms / 1000), future = s < 0;
    s = Math.abs(s);
    var out;
    if (s < 5) return "just now";
    if (s < 60) out = s + "s";
    else if (s < 3600) out = Math.floor(s / 60) + "m";
    else if (s < 86400) out = Math.floor(s / 3600) + "h";
    else out = Math.floor(s / 86400) + "d";
    return future ? "in " + out : out + " ago";
  }
  function refreshTimes() {
    var now = Date.now();
    document.querySelectorAll("time[data-rel]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(t)) el.textContent = rel(now - t);
    });
  }
  setInterval(refreshTimes, 15000);

  // Diagram pan and zoom: the SVG's viewBox is the camera.
  function initDiagram(slot) {
    var svg = slot.querySelector("svg");
    if (!svg) return;
    var vb = svg.viewBox && svg.viewBox.baseVal;
    var box;
    if (vb && vb.width > 0) {
      box = { x: vb.x, y: vb.y, w: vb.width, h: vb.height };
    } else {
      var w = parseFloat(svg.getAttribute("width")) || 800, h = parseFloat(svg.getAttribute("height")) || 400;
      box = { x: 0, y: 0, w: w, h: h };
    }
    var home = { x: box.x, y: box.y, w: box.w, h: box.h };
    // The SVG fills the viewport; preserveAspectRatio keeps shapes undistorted.
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    function apply() { svg.setAttribute("viewBox", [box.x, box.y, box.w, box.h].join(" ")); }
    apply();

    function zoom(factor, cx, cy) {
      var nw = box.w * factor, nh = box.h * factor;
      if (nw < home.w / 20 || nw > home.w * 8) return;
      if (cx === undefined) { cx = box.x + box.w / 2; cy = box.y + box.h / 2; }
      box.x = cx - (cx - box.x) * factor;
      box.y = cy - (cy - box.y) * factor;
      box.w = nw; box.h = nh;
      apply();
    }
    function toSVG(clientX, clientY) {
      var pt = svg.createSVGPoint();
      pt.x = clientX; pt.y = clientY;
      var m = svg.getScreenCTM();
      return m ? pt.matrixTransform(m.inverse()) : { x: box.x + box.w / 2, y: box.y + box.h / 2 };
    }
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var p = toSVG(ev.clientX, ev.clientY);
      zoom(ev.deltaY > 0 ? 1.15 : 1 / 1.15, p.x, p.y);
    }, { passive: false });

    var drag = null, moved = false;
    svg.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0) return;
      drag = { x: ev.clientX, y: ev.clientY, bx: box.x, by: box.y };
      moved = false;
    });
    window.addEventListener("pointermove", function (ev) {
      if (!drag) return;
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!moved) { moved = true; slot.classList.add("is-panning"); }
      var scale = box.w / svg.getBoundingClientRect().width;
      box.x = drag.bx - dx * scale;
      box.y = drag.by - dy * scale;
      apply();
    });
    window.addEventListener("pointerup", function () {
      drag = null;
      slot.classList.remove("is-panning");
    });

    // A click on an element (not the end of a drag) follows the slot's link template.
    var tmpl = slot.getAttribute("data-element-href");
    svg.addEventListener("click", function (ev) {
      if (moved) { ev.preventDefault(); moved = false; return; }
      if (!tmpl) return;
      var el = ev.target.closest("[data-element-id]");
      if (!el || el.closest("a")) return;
      window.location.href = tmpl.replace("{id}", encodeURIComponent(el.getAttribute("data-element-id")));
    });

    slot.querySelectorAll("[data-zoom]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var z = btn.getAttribute("data-zoom");
        if (z === "in") zoom(1 / 1.25);
        else if (z === "out") zoom(1.25);
        else { box = { x: home.x, y: home.y, w: home.w, h: home.h }; apply(); }
      });
    });
    var viewport = slot.querySelector(".diagram-viewport");
    if (viewport) {
      viewport.addEventListener("keydown", function (ev) {
        var step = box.w / 10;
        switch (ev.key) {
          case "+": case "=": zoom(1 / 1.25); break;
          case "-": zoom(1.25); break;
          case "0": box = { x: home.x, y: home.y, w: home.w, h: home.h }; apply(); break;
          case "ArrowLeft": box.x -= step; apply(); break;
          case "ArrowRight": box.x += step; apply(); break;
          case "ArrowUp": box.y -= step; apply(); break;
          case "ArrowDown": box.y += step; apply(); break;
          default: return;
        }
        ev.preventDefault();
      });
    }
  }
  document.querySelectorAll("[data-diagram]").forEach(initDiagram);

  // Copy buttons next to ids.
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var text = btn.getAttribute("data-copy");
      if (!navigator.clipboard) return;
      navigator.clipboard.writeText(text).then(function () {
        btn.classList.add("is-copied");
        setTimeout(function () { btn.classList.remove("is-copied"); }, 1200);
      });
    });
  });
})();
