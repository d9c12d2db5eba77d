// Cockpit's few behaviours. Pages work without this file; it adds comfort:
//   - the theme toggle (stored in localStorage; theme.js applies it before paint)
//   - "/" focuses the search box
//   - relative times ("3m ago") stay fresh
//   - pan and zoom of the diagram SVG (wheel, drag, buttons, keyboard), and clicks on a
//     diagram element follow the slot's link template
//   - actions: a confirm <dialog> before forms with data-confirm post, rows added to the
//     variable editor, dismissable flash banners, and the bulk progress poll
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
    // The viewport takes the height the diagram needs at its width (at most one model unit
    // per pixel), within bounds: a wide collaboration does not float in a tall empty box,
    // a tall process gets room, a small one keeps a usable area.
    var vp = svg.parentNode, cw = vp.clientWidth;
    if (cw > 0 && box.w > 0 && box.h > 0) {
      var rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
      var lo = 14 * rem, hi = Math.max(lo, Math.min(window.innerHeight * 0.75, 48 * rem));
      var need = box.h * Math.min(1, cw / box.w) + 2 * rem;
      vp.style.height = Math.round(Math.min(hi, Math.max(lo, need))) + "px";
    }
    // A small diagram is not blown up past its natural size: at most one model unit per
    // pixel, centred in the viewport.
    var ch = vp.clientHeight;
    if (cw > 0 && ch > 0 && box.w < cw && box.h < ch) {
      box = { x: box.x - (cw - box.w) / 2, y: box.y - (ch - box.h) / 2, w: cw, h: ch };
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
      if (!tmpl) {
        // The instance page filters itself to the element instead (elementFilter).
        var hit = ev.target.closest("[data-element-id]");
        if (hit && slot.closest("[data-element-filter]")) toggleElementFilter(hit.getAttribute("data-element-id"));
        return;
      }
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

  // Instance list selection (the bulk bar): the checked rows are kept by id, so a live
  // update that redraws the list keeps them checked; "all matching" overrides the rows;
  // the buttons are enabled while something is selected.
  var bulk = document.querySelector("[data-bulk-form]");
  if (bulk) {
    var picked = {};
    var bulkAll = bulk.querySelector("[data-bulk-all]");
    var syncBulk = function () {
      var items = document.querySelectorAll("[data-bulk-item]");
      var n = 0, onPage = 0;
      items.forEach(function (cb) {
        cb.checked = !!picked[cb.value];
        cb.disabled = bulkAll.checked;
        if (cb.checked) onPage++;
      });
      for (var k in picked) if (picked[k]) n++;
      var page = document.querySelector("[data-bulk-page]");
      if (page) {
        page.checked = items.length > 0 && onPage === items.length;
        page.indeterminate = onPage > 0 && onPage < items.length;
        page.disabled = bulkAll.checked;
      }
      bulk.querySelector("[data-bulk-count]").textContent = bulkAll.checked ? "All matching selected" :
        n === 0 ? "None selected" : n + " selected";
      bulk.querySelectorAll("[data-bulk-action]").forEach(function (b) { b.disabled = !bulkAll.checked && n === 0; });
    };
    document.addEventListener("change", function (ev) {
      var t = ev.target;
      if (t.matches && t.matches("[data-bulk-item]")) picked[t.value] = t.checked;
      else if (t.matches && t.matches("[data-bulk-page]")) {
        document.querySelectorAll("[data-bulk-item]").forEach(function (cb) { picked[cb.value] = t.checked; });
      } else if (t !== bulkAll) return;
      syncBulk();
    });
    // Rows picked on this page but redrawn away by a live update still go with the form.
    bulk.addEventListener("submit", function () {
      bulk.querySelectorAll("input[data-bulk-kept]").forEach(function (i) { i.remove(); });
      if (bulkAll.checked) return;
      for (var id in picked) {
        if (!picked[id] || document.querySelector('[data-bulk-item][value="' + CSS.escape(id) + '"]')) continue;
        var h = document.createElement("input");
        h.type = "hidden"; h.name = "instance"; h.value = id; h.setAttribute("data-bulk-kept", "");
        bulk.appendChild(h);
      }
    }, true);
    document.addEventListener("cockpit:swap", syncBulk);
    syncBulk();
  }

  // Element filter (the instance page): a click on a diagram element shows only the
  // history rows, variables, incidents, tasks, jobs and tokens of that element; a second
  // click on it, or "Show all", shows everything again. The element is kept in the URL
  // (?element=id) so a reload or a shared link keeps the filter, and the filter is
  // applied again to every fragment a live update swaps in.
  var filterRoot = document.querySelector("[data-element-filter]");
  var filterID = "";
  var filterItems = '[data-testid="history-row"], [data-testid="incident"], [data-testid="variable-row"], ' +
    '[data-testid="task-row"], [data-testid="job-row"], [data-testid="token-row"]';
  function matchesElement(el, id) {
    if (el.getAttribute("data-element-id") === id) return true;
    var list = el.getAttribute("data-elements");
    return !!list && (" " + list + " ").indexOf(" " + id + " ") >= 0;
  }
  function applyElementFilter() {
    if (!filterRoot) return;
    var counts = { history: 0, variables: 0, incidents: 0 };
    document.querySelectorAll(filterItems).forEach(function (el) {
      var show = !filterID || matchesElement(el, filterID);
      el.classList.toggle("is-filtered-out", !show);
      if (!show || !filterID) return;
      var t = el.getAttribute("data-testid");
      if (t === "history-row") counts.history++;
      else if (t === "variable-row") counts.variables++;
      else if (t === "incident") counts.incidents++;
    });
    document.querySelectorAll('[data-testid="variable-scope"]').forEach(function (sc) {
      sc.classList.toggle("is-filtered-out", !!filterID && !sc.querySelector('[data-testid="variable-row"]:not(.is-filtered-out)'));
    });
    filterRoot.querySelectorAll("svg [data-element-id]").forEach(function (g) {
      g.classList.toggle("is-selected", !!filterID && g.getAttribute("data-element-id") === filterID);
    });
    var bar = filterRoot.querySelector("[data-element-filter-bar]");
    if (!bar) return;
    bar.hidden = !filterID;
    if (!filterID) return;
    // The element's name as the diagram shows it: its external label, else its shape's text.
    var sel = '[data-element-id="' + CSS.escape(filterID) + '"]';
    var label = filterRoot.querySelector("svg .djs-label" + sel) || filterRoot.querySelector("svg g" + sel);
    var name = "";
    if (label) label.querySelectorAll("text").forEach(function (t) { name += (name ? " " : "") + t.textContent.trim(); });
    bar.querySelector("[data-element-filter-name]").textContent = name || filterID;
    bar.querySelector("[data-element-filter-id]").textContent = filterID;
    bar.querySelector("[data-element-filter-counts]").textContent = counts.history + " history event" + (counts.history === 1 ? "" : "s") +
      ", " + counts.variables + " variable" + (counts.variables === 1 ? "" : "s") + ", " + counts.incidents + " incident" + (counts.incidents === 1 ? "" : "s");
  }
  function toggleElementFilter(id) {
    filterID = filterID === id ? "" : id;
    var u = new URL(window.location.href);
    if (filterID) u.searchParams.set("element", filterID); else u.searchParams.delete("element");
    history.replaceState(null, "", u.toString());
    applyElementFilter();
  }
  if (filterRoot) {
    filterID = new URL(window.location.href).searchParams.get("element") || "";
    applyElementFilter();
    document.addEventListener("cockpit:swap", applyElementFilter);
    filterRoot.addEventListener("click", function (ev) {
      if (ev.target.closest("[data-element-filter-clear]")) toggleElementFilter(filterID);
    });
  }

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
  // ---- Actions (internal/web/actions.go) ----
  // Every listener is delegated from the document, so forms that live updates replace
  // keep working.

  // Confirm before a form with data-confirm posts: a <dialog> with the question. The
  // confirmed form carries confirm=yes, so the server skips its own confirm page (the
  // one browsers without script get for destructive actions).
  // A confirmed action is never lost: live.js holds its swaps while a dialog is open,
  // and the dialog posts the very form it asked about, put back into the document
  // (hidden) if something replaced it meanwhile. A destructive question gives the focus
  // to "Go back", so Enter twice on "Cancel instance" cancels nothing.
  var dialog = null;
  function confirmDialog() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-msg");
    dialog.setAttribute("data-testid", "confirm-dialog");
    dialog.innerHTML = '<form method="dialog"><p id="confirm-dialog-msg" class="confirm-message"></p>' +
      '<div class="confirm-actions"><button type="submit" class="btn" value="no" data-confirm-no>Go back</button>' +
      '<button type="submit" class="btn" value="yes" data-confirm-yes></button></div></form>';
    document.body.appendChild(dialog);
    return dialog;
  }
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
    if (form.getAttribute("data-confirmed") === "1") { form.removeAttribute("data-confirmed"); return; }
    var d = confirmDialog();
    if (typeof d.showModal !== "function") return; // no <dialog>: the server asks instead
    ev.preventDefault();
    var submitter = ev.submitter || null;
    d.querySelector(".confirm-message").textContent = form.getAttribute("data-confirm");
    var yes = d.querySelector("[data-confirm-yes]");
    yes.textContent = form.getAttribute("data-confirm-label") || "Confirm";
    yes.className = form.hasAttribute("data-confirm-danger") ? "btn btn-danger-solid" : "btn btn-primary";
    d.returnValue = "";
    d.onclose = function () {
      if (d.returnValue !== "yes") return;
      if (!form.isConnected) {
        // Replaced while the dialog was open: the detached form still holds every field
        // (files too) as it was when the user asked; post that one.
        form.hidden = true;
        document.body.appendChild(form);
      }
      if (!form.querySelector('input[name="confirm"]')) {
        var c = document.createElement("input");
        c.type = "hidden"; c.name = "confirm"; c.value = "yes";
        form.appendChild(c);
      }
      form.setAttribute("data-confirmed", "1");
      if (form.requestSubmit) form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
      else form.submit();
    };
    d.showModal();
    if (form.hasAttribute("data-confirm-danger")) d.querySelector("[data-confirm-no]").focus();
    else yes.focus();
  });
  // A button that posts shows it is busy, so a slow command is not clicked twice.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (ev.defaultPrevented || !(form instanceof HTMLFormElement) || form.method !== "post") return;
    form.querySelectorAll('button[type="submit"]').forEach(function (b) { b.setAttribute("aria-busy", "true"); });
  });

  // Variable editor: "Add variable" clones the template row with fresh ids.
  var newRows = 0;
  document.querySelectorAll("[data-var-add]").forEach(function (b) { b.hidden = false; });
  document.addEventListener("click", function (ev) {
    var add = ev.target.closest && ev.target.closest("[data-var-add]");
    if (!add) return;
    var editor = add.closest("[data-var-editor]");
    var tmpl = editor && editor.querySelector("template[data-var-template]");
    if (!tmpl) return;
    var row = tmpl.content.firstElementChild.cloneNode(true);
    row.setAttribute("data-testid", "var-row");
    newRows++;
    row.querySelectorAll("[id]").forEach(function (el) { el.id = el.id.replace("var-new-", "var-add" + newRows + "-"); });
    row.querySelectorAll("label[for]").forEach(function (el) { el.htmlFor = el.htmlFor.replace("var-new-", "var-add" + newRows + "-"); });
    add.closest(".var-tools").before(row);
    var name = row.querySelector('input[name="vname"]');
    if (name) name.focus();
  });

  // Flash banners can be dismissed.
  document.querySelectorAll("[data-flash-close]").forEach(function (b) { b.hidden = false; });
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("[data-flash-close]");
    if (b) b.closest("[data-flash]").remove();
  });

  // Bulk action progress: fetch the card every 500 ms until it says it is done, then
  // every 2 s while the server still checks which retried incidents failed again.
  function pollProgress() {
    var card = document.querySelector("[data-progress-url]");
    if (!card || card.getAttribute("data-settled") === "true") return;
    setTimeout(function () {
      fetch(card.getAttribute("data-progress-url"), { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var next = doc.querySelector("[data-progress-url]");
          if (next) card.replaceWith(document.importNode(next, true));
          pollProgress();
        })
        .catch(function () { setTimeout(pollProgress, 2000); });
    }, card.getAttribute("data-done") === "true" ? 2000 : 500);
  }
  pollProgress();
})();
