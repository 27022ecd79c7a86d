// stillwatch console: progressive enhancement only; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Prevent double submission of state-changing forms.
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    });
  });
  // Point the footer's JSON-twin link at the current page with _format=json.
  var twin = document.getElementById("json-twin");
  if (twin) {
    var url = new URL(window.location.href);
    url.searchParams.set("_format", "json");
    twin.setAttribute("href", url.pathname + url.search);
  }
});
