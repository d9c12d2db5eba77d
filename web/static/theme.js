// Loaded in <head>, before the body paints, so a stored theme never flashes the other one.
// (An inline script would do the same but needs 'unsafe-inline' in the CSP.)
(function () {
  try {
    var t = localStorage.getItem("cockpit-theme");
    if (t === "light" || t === "dark") document.documentElement.setAttribute("data-theme", t);
  } catch (e) { /* storage blocked: follow prefers-color-scheme */ }
})();
