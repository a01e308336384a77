// Sends the session's CSRF token with every htmx request, so that htmx forms that change data pass the
// same check as ordinary forms (taperwise/web/csrf.py). No other script runs on these pages.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.content;
  }
});
