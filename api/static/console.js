// The console's "try it" panel: builds the API request for a mode, shows results and reasons.
"use strict";

(function () {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const FILTERS = ["category", "kind", "year_min", "year_max"];
  const LABELS = {
    similar: "item id", more_like: "item ids", user: "user id",
  };

  function request(mode, input, params) {
    if (mode === "similar") {
      return { url: `/items/${encodeURIComponent(input)}/similar?${params}` };
    }
    if (mode === "user") {
      return { url: `/users/${encodeURIComponent(input)}/recommendations?${params}` };
    }
    if (mode === "more_like") {
      const ids = input.split(",").map((s) => parseInt(s.trim(), 10)).filter((n) => n > 0);
      return {
        url: `/recommendations/from-items?${params}`,
        method: "POST",
        body: JSON.stringify({ positive: ids }),
      };
    }
    params.set("mode", mode);
    params.set("q", input);
    return { url: `/recommendations?${params}` };
  }

  function reason(result) {
    const ex = result.explain;
    if (!ex) return "";
    if (ex.reason) return `${ex.source}: ${ex.reason}`;
    const modes = Object.entries(ex.modes || {})
      .map(([m, s]) => `${m} #${s.rank}`)
      .join(", ");
    return `${modes} · final ${ex.final.toFixed(3)}`;
  }

  function cell(row, text, cls) {
    const td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
  }

  function show(page, table, metaLine) {
    table.innerHTML = "";
    const head = table.createTHead().insertRow();
    for (const h of ["#", "id", "title", "score", "why"]) {
      const th = document.createElement("th");
      th.textContent = h;
      head.appendChild(th);
    }
    const body = table.createTBody();
    page.results.forEach((r, i) => {
      const row = body.insertRow();
      row.className = "result";
      cell(row, String(i + 1), "num");
      cell(row, String(r.id), "num");
      cell(row, r.title);
      cell(row, r.score.toFixed(4), "num");
      cell(row, reason(r), "reason");
    });
    metaLine.textContent =
      `${page.count} results · mode ${page.mode} · backend ${page.backend} · ` +
      `variant ${page.variant || "-"} · request ${page.request_id || "-"}`;
  }

  async function run(event) {
    event.preventDefault();
    const form = event.target;
    const table = document.getElementById("try-results");
    const metaLine = document.getElementById("try-meta");
    const data = new FormData(form);
    const params = new URLSearchParams();
    params.set("n", data.get("n") || "10");
    if (data.get("explain")) params.set("explain", "true");
    if (data.get("available")) params.set("available", "true");
    if (data.get("variant")) params.set("variant", data.get("variant"));
    for (const f of FILTERS) if (data.get(f)) params.set(f, data.get(f));
    const spec = request(data.get("mode"), String(data.get("input") || "").trim(), params);
    const headers = { "Content-Type": "application/json" };
    if (meta("pgrec-key")) headers[meta("pgrec-key-header")] = meta("pgrec-key");
    metaLine.textContent = "…";
    try {
      const resp = await fetch(spec.url, { method: spec.method || "GET", headers, body: spec.body });
      const page = await resp.json();
      if (!resp.ok) {
        table.innerHTML = "";
        metaLine.innerHTML = "";
        const err = document.createElement("span");
        err.className = "error";
        err.textContent = `${resp.status}: ${page.detail || JSON.stringify(page)}`;
        metaLine.appendChild(err);
        return;
      }
      show(page, table, metaLine);
    } catch (err) {
      metaLine.textContent = String(err);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const mode = document.getElementById("try-mode");
    const label = document.getElementById("try-input-label");
    mode.addEventListener("change", () => { label.textContent = LABELS[mode.value] || "query"; });
    document.getElementById("try-form").addEventListener("submit", run);
  });
})();
