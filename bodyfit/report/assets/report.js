/* bodyfit report: sorting and filtering the people table, the images' pages, and choosing
   the fit the 3D view shows. #report-status says when the page is ready (data-state), how
   many script errors it saw (data-errors) and what the 3D view drew (data-viewer, data-pixels). */
"use strict";

(function () {
  const status = document.getElementById("report-status");
  const errors = [];
  const noteError = message => {
    errors.push(String(message));
    status.dataset.errors = String(errors.length);
    status.title = errors.join("\n");
  };
  window.addEventListener("error", e => noteError(e.message || "cannot load " + (e.target && e.target.src)), true);
  window.addEventListener("unhandledrejection", e => noteError(e.reason && e.reason.message || e.reason));

  const people = JSON.parse(document.getElementById("report-people").textContent);
  const table = document.getElementById("people");
  const body = table.tBodies[0];

  function sortBy(th, column) {
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    for (const other of table.tHead.rows[0].cells) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const numeric = th.dataset.type === "num", direction = ascending ? 1 : -1;
    const value = row => row.cells[column].dataset.v;
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = value(a), y = value(b);
      if (x === "" || y === "") return (x === "") - (y === "");  // missing values last, either way
      if (numeric) return (parseFloat(x) - parseFloat(y)) * direction;
      return x.localeCompare(y, undefined, { numeric: true }) * direction;
    });
    body.append(...rows);
  }
  Array.from(table.tHead.rows[0].cells).forEach((th, column) => th.addEventListener("click", () => sortBy(th, column)));

  const filter = document.getElementById("filter"), rowCount = document.getElementById("row-count");
  function applyFilter() {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of body.rows) {
      const text = row.textContent.toLowerCase();
      row.hidden = !words.every(word => text.includes(word));
      shown += !row.hidden;
    }
    rowCount.textContent = `${shown} of ${body.rows.length} rows`;
  }
  filter.addEventListener("input", applyFilter);
  applyFilter();

  const pager = document.querySelector(".pager"), cards = document.querySelectorAll(".gallery .card");
  function showPage(page) {
    for (const card of cards) card.hidden = Number(card.dataset.page) !== page;
    const pages = Number(pager.dataset.pages), per = Number(pager.dataset.perPage), count = Number(pager.dataset.count);
    pager.replaceChildren();
    if (pages <= 1) return;
    const label = document.createElement("span");
    label.textContent = `images ${page * per + 1}-${Math.min(count, (page + 1) * per)} of ${count}`;
    pager.append(label);
    let last = -1;
    for (let p = 0; p < pages; p++) {
      if (pages > 12 && Math.abs(p - page) > 3 && p !== 0 && p !== pages - 1) continue;
      if (p > last + 1) pager.append("\u2026");
      last = p;
      const button = document.createElement("button");
      button.type = "button"; button.textContent = String(p + 1); button.disabled = p === page;
      button.addEventListener("click", () => showPage(p));
      pager.append(button);
    }
  }
  showPage(0);

  const viewer = makeViewer(document.getElementById("viewer"), /[?&]renderer=canvas/.test(location.search));
  const viewerStatus = document.getElementById("viewer-status");
  status.dataset.renderer = viewer.renderer;
  document.getElementById("viewer-reset").addEventListener("click", () => viewer.reset());

  function showFigures(person) {
    document.getElementById("viewer-title").textContent = person.title;
    const picture = document.getElementById("viewer-picture");
    if (person.picture) picture.src = person.picture; else picture.removeAttribute("src");
    const list = document.getElementById("viewer-figures");
    list.replaceChildren();
    for (const [name, value, flagged] of person.figures) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = name; dd.textContent = value;
      if (flagged) dd.className = "flagged";
      list.append(dt, dd);
    }
  }

  let chosen = null;
  async function choose(key) {
    const person = people[key];
    if (!person) return;
    chosen = key;
    for (const row of body.querySelectorAll("tr.chosen")) row.classList.remove("chosen");
    const row = body.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
    if (row) row.classList.add("chosen");
    showFigures(person);
    if (!person.mesh) {
      viewer.clear();
      viewerStatus.textContent = "no 3D data for this person (" + person.figures[0][1] + ")";
      status.dataset.viewer = "none";
      return;
    }
    viewerStatus.textContent = "loading...";
    try {
      await loadScript(person.mesh);
      const data = bodyfitStore.meshes[key];
      await loadScript("report_data/" + data.faces + ".js");
      if (chosen !== key) return;  // another fit was chosen meanwhile
      const color = (person.color || [170, 190, 230]).map(c => c / 255);
      const pixels = viewer.show(buildMesh(data, bodyfitStore.faces[data.faces]), color);
      viewerStatus.textContent = `${data.model}, ${data.q.length * 3 / 4 / 6 | 0} vertices (${viewer.renderer})`;
      status.dataset.viewer = "drawn";
      status.dataset.pixels = String(pixels);
    } catch (error) {
      viewer.clear();
      viewerStatus.textContent = String(error.message || error);
      status.dataset.viewer = "error";
      noteError(error.message || error);
    }
  }

  body.addEventListener("click", e => {
    const row = e.target.closest("tr");
    if (row) location.hash = row.dataset.key;
  });
  document.querySelector(".gallery").addEventListener("click", e => {
    const chip = e.target.closest(".chip");
    if (chip) { location.hash = chip.dataset.key; document.querySelector(".top").scrollIntoView(); }
  });
  const fromHash = () => decodeURIComponent(location.hash.slice(1));
  window.addEventListener("hashchange", () => choose(fromHash()));

  const first = people[fromHash()] ? fromHash() : Object.keys(people).find(k => people[k].mesh);
  const ready = first ? choose(first) : Promise.resolve();
  ready.finally(() => { status.dataset.state = "ready"; status.textContent = "ready"; });
})();
