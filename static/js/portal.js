// Progressive enhancement only: every page works without this file.
// A form button marked data-once is disabled after the first submit, so a double click sends
// one complaint (the server's idempotency key is the real guarantee).
document.addEventListener("submit", function (event) {
  var button = event.target.querySelector("button[data-once]");
  if (button) {
    window.setTimeout(function () { button.disabled = true; }, 0);
  }
});

// A printed dashboard is the monthly report: folded tables print unfolded.
window.addEventListener("beforeprint", function () {
  document.querySelectorAll("details.report-details").forEach(function (details) {
    details.open = true;
  });
});
