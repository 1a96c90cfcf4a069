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
// An import's page while it runs: shows its progress from /ui/import/{id}/progress every second, and reloads
// once the run has ended, for the report. Without this the page's Refresh link does the same.
(() => {
  const live = document.querySelector("[data-poll]");
  if (!live) return;
  const set = (id, v) => { const el = document.getElementById(id); if (el) el.textContent = String(v); };
  const tick = () => {
    fetch(live.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((p) => {
        if (p.state !== "running") { window.location.reload(); return; }
        const bar = document.getElementById("import-progress");
        if (bar) {
          bar.max = Math.max(p.records_total, 1);
          bar.value = p.records_done;
          bar.textContent = `${p.records_done} of ${p.records_total}`;
        }
        set("import-done", p.records_done);
        set("import-total", p.records_total);
        for (const k of ["created", "updated", "unchanged", "failed"]) set(`import-${k}`, p[k]);
        setTimeout(tick, 1000);
      })
      .catch(() => setTimeout(tick, 5000));
  };
  setTimeout(tick, 1000);
})();
