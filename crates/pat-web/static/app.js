// patd web UI: the only script. Pages work without it; it adds the Copy button, and
// after a create or regenerate (whose response itself shows the secret, once) it
// points the address bar at the token's page, so a reload shows the page without it.
"use strict";

function copyFrom(input, status) {
  const done = () => { status.textContent = "Copied to the clipboard."; };
  const fallback = () => {
    input.focus();
    input.select();
    try {
      document.execCommand("copy");
      done();
    } catch (_) {
      status.textContent = "Copy failed: select the token and copy it by hand.";
    }
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(input.value).then(done, fallback);
  } else {
    fallback();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const shown = document.querySelector("[data-canonical-url]");
  if (shown) history.replaceState(null, "", shown.dataset.canonicalUrl);
  for (const button of document.querySelectorAll("button[data-copy-target]")) {
    const input = document.getElementById(button.dataset.copyTarget);
    const status = document.getElementById("copy-status");
    if (!input || !status) continue;
    button.hidden = false;
    button.addEventListener("click", () => copyFrom(input, status));
  }
});
