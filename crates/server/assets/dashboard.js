// licensd dashboard: small progressive enhancements. Every page works without this file.
"use strict";
document.addEventListener("click", (ev) => {
  // A copy button: data-copy names the id of the element whose text it copies.
  const b = ev.target.closest("button[data-copy]");
  if (!b) return;
  const el = document.getElementById(b.dataset.copy);
  if (!el || !navigator.clipboard) return;
  navigator.clipboard.writeText(el.textContent.trim()).then(() => {
    const old = b.textContent;
    b.textContent = "Copied";
    setTimeout(() => { b.textContent = old; }, 1500);
  });
});
// Opening one confirmation closes the others, so one action is in view at a time.
document.addEventListener("toggle", (ev) => {
  const d = ev.target;
  if (!(d instanceof HTMLDetailsElement) || !d.open || !d.classList.contains("confirm")) return;
  document.querySelectorAll("details.confirm[open]").forEach((o) => { if (o !== d) o.open = false; });
  const first = d.querySelector("input:not([type=hidden]), button");
  if (first) first.focus();
}, true);
