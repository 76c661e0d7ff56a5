// vlmtransfer report: renders the data embedded in #report-data. No libraries, no network.
// Every string from the data is inserted with textContent or as an SVG/HTML attribute value set through
// setAttribute on a fixed attribute name, never parsed as HTML, so task and model names cannot inject markup.
(function () {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const LABEL_MAX = 24;
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const tooltip = document.getElementById("tooltip");
  // Names are looked up in Maps, never as object keys: a task called "constructor" or "__proto__" is just a name.
  const TASKS = new Map(DATA.tasks.map((task) => [task.name, task]));
  const LEVEL_COLOURS = new Map(DATA.levelColours);
  const FIGURES = new Map(DATA.figures.map((figure) => [figure.name, figure]));

  // ---- DOM helpers -------------------------------------------------------------------------------

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(name, String(value));
    }
  }

  function append(parent, ...children) {
    for (const child of children) if (child) parent.appendChild(child);
    return parent;
  }

  function taskInfo(name) {
    return TASKS.get(name) || { name: name, abbreviation: name, level: null, granularity: null };
  }

  function abbr(name) {
    return taskInfo(name).abbreviation || name;
  }

  // ---- numbers and colours -----------------------------------------------------------------------

  function isNum(value) {
    return typeof value === "number" && isFinite(value);
  }

  function format(value, kind) {
    if (!isNum(value)) return value === null || value === undefined ? "–" : String(value);
    if (kind === "p") return value < 0.001 ? value.toExponential(1) : value.toFixed(3);
    if (kind === "int") return String(Math.round(value));
    if (kind === "pct") return value.toFixed(1);
    return value.toFixed(3);
  }

  function signed(value) {
    return isNum(value) ? (value > 0 ? "+" : "") + value.toFixed(3) : "–";
  }

  function hexToRgb(hex) {
    const n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  const DIVERGING = DATA.colormaps.diverging.map(hexToRgb);
  const SEQUENTIAL = DATA.colormaps.sequential.map(hexToRgb);

  // t in [0, 1] -> colour interpolated between the stops of a matplotlib colormap (same as the figures).
  function ramp(stops, t) {
    const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(x));
    const f = x - i;
    const rgb = stops[i].map((c, k) => Math.round(c + f * (stops[i + 1][k] - c)));
    return { css: "rgb(" + rgb.join(",") + ")", light: 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2] > 128 };
  }

  function pgfColour(value) {
    return ramp(DIVERGING, 0.5 + value / (2 * DATA.limit));
  }

  // ---- tabs --------------------------------------------------------------------------------------

  function buildTabs(panels) {
    const nav = document.getElementById("tabs");
    const content = document.getElementById("content");
    const buttons = [];
    panels.forEach((panel, index) => {
      const id = "panel-" + index;
      const button = el("button", { role: "tab", id: "tab-" + index, "aria-controls": id, type: "button" },
        panel.label);
      const section = el("section", { class: "panel", role: "tabpanel", id: id, "aria-labelledby": "tab-" + index });
      button.addEventListener("click", () => select(index));
      button.addEventListener("keydown", (event) => {
        const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
        if (step) {
          select((index + step + panels.length) % panels.length);
          buttons[(index + step + panels.length) % panels.length].focus();
        }
      });
      buttons.push(button);
      nav.appendChild(button);
      content.appendChild(section);
      panel.section = section;
    });
    const drawn = new Set();
    // Tabs are drawn when first opened; printing shows every tab, so draw them all first.
    window.addEventListener("beforeprint", () => panels.forEach((panel, index) => {
      if (!drawn.has(index)) {
        drawn.add(index);
        panel.draw(panel.section);
      }
    }));
    function select(index) {
      panels.forEach((panel, k) => {
        buttons[k].setAttribute("aria-selected", String(k === index));
        buttons[k].tabIndex = k === index ? 0 : -1;
        panel.section.hidden = k !== index;
      });
      if (!drawn.has(index)) {  // draw lazily: a report of many models opens fast
        drawn.add(index);
        panels[index].draw(panels[index].section);
      }
    }
    select(0);
  }

  // ---- tables ------------------------------------------------------------------------------------

  function tableBlock(table) {
    const block = el("div", { class: "table-block", "data-table": table.filename || "" });
    const head = append(el("div", { class: "table-head" }), el("h3", {}, table.title));
    if (table.csv) head.appendChild(downloadButton("Download CSV", table.filename, table.csv));
    block.appendChild(head);
    if (table.note) block.appendChild(el("p", { class: "note" }, table.note));
    const picture = table.figure ? FIGURES.get(table.figure) : undefined;
    const tableEl = el("table");
    const headRow = el("tr");
    const body = el("tbody");
    let sortKey = -1;
    let ascending = true;
    table.columns.forEach((column, index) => {
      const th = el("th", { scope: "col", "aria-sort": "none" });
      const button = el("button", { type: "button", title: column.help || "" }, column.label);
      button.addEventListener("click", () => {
        ascending = sortKey === index ? !ascending : true;
        sortKey = index;
        headRow.querySelectorAll("th").forEach((cell) => cell.setAttribute("aria-sort", "none"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        fill(sortedRows(table.rows, index, ascending));
      });
      th.appendChild(button);
      headRow.appendChild(th);
    });
    function fill(rows) {
      body.textContent = "";
      if (!rows.length) {
        body.appendChild(append(el("tr", { class: "empty" }),
          el("td", { colspan: table.columns.length }, table.empty || "none")));
      }
      for (const row of rows) {
        const tr = el("tr");
        row.forEach((value, index) => {
          const kind = table.columns[index].format;
          tr.appendChild(el("td", { class: kind === "text" ? null : "num" }, format(value, kind)));
        });
        body.appendChild(tr);
      }
    }
    fill(table.rows);
    append(tableEl, append(el("thead"), headRow), body);
    return append(block, tableEl, picture ? figureBlock(picture, false) : null);
  }

  function sortedRows(rows, index, ascending) {
    const direction = ascending ? 1 : -1;
    return rows.slice().sort((a, b) => {
      const x = a[index];
      const y = b[index];
      if (!isNum(x) || !isNum(y)) {
        if (isNum(x) !== isNum(y)) return isNum(x) ? -1 : 1;  // numbers before text and blanks
        return direction * String(x === null ? "" : x).localeCompare(String(y === null ? "" : y));
      }
      return direction * (x - y);
    });
  }

  function downloadButton(label, filename, text) {
    const button = el("button", { type: "button", class: "download" }, label);
    button.addEventListener("click", () => {
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
      const link = el("a", { href: url, download: filename });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    });
    return button;
  }

  // ---- tooltip -----------------------------------------------------------------------------------

  function showTooltip(event, lines) {
    tooltip.textContent = "";
    for (const line of lines) tooltip.appendChild(el("div", {}, line));
    tooltip.hidden = false;
    const pad = 14;
    const box = tooltip.getBoundingClientRect();
    let x = event.clientX + pad;
    let y = event.clientY + pad;
    if (x + box.width > window.innerWidth) x = Math.max(0, event.clientX - box.width - pad);
    if (y + box.height > window.innerHeight) y = Math.max(0, event.clientY - box.height - pad);
    tooltip.style.left = x + "px";
    tooltip.style.top = y + "px";
  }

  function hideTooltip() {
    tooltip.hidden = true;
  }

  // ---- heatmap -----------------------------------------------------------------------------------

  function heatmapSection(model, container) {
    const controls = el("div", { class: "controls" });
    const orderSelect = el("select", { "aria-label": "task order" });
    for (const name of Object.keys(DATA.orders)) {
      orderSelect.appendChild(el("option", { value: name }, "order: " + name));
    }
    orderSelect.value = DATA.defaultOrder;
    const valueSelect = el("select", { "aria-label": "value shown" });
    valueSelect.appendChild(el("option", { value: "mean" }, "seed-mean PGF"));
    if (model.seeds.length > 1) valueSelect.appendChild(el("option", { value: "std" }, "std across seeds"));
    append(controls, orderSelect, valueSelect,
      downloadButton("Download CSV", model.pgfCsv.filename, model.pgfCsv.csv));
    const chart = el("div", { class: "chart heatmap" });
    const card = el("div", { class: "card wide" });  // the whole row: the matrix is the main result
    container.appendChild(card);
    append(card, el("h2", {}, "PGF matrix"),
      el("p", { class: "note" }, "Rows: task finetuned on (source); columns: task evaluated (target). " +
        "Hover a cell for its mean, std, per-seed values, 95 % interval, p and q. Grey diagonal: self-transfer. " +
        "Faded, hatched cells are not significant (q ≥ " + DATA.options.alpha + "; " + uncertaintyText(model) + ")."),
      controls, chart);
    const draw = () => {
      chart.textContent = "";
      chart.appendChild(heatmap(model, DATA.orders[orderSelect.value], valueSelect.value));
    };
    orderSelect.addEventListener("change", draw);
    valueSelect.addEventListener("change", draw);
    draw();
  }

  function heatmap(model, order, what) {
    const rank = new Map(order.map((task, i) => [task, i]));
    const byRank = (a, b) => (rank.has(a) ? rank.get(a) : 1e9) - (rank.has(b) ? rank.get(b) : 1e9);
    const rows = model.sources.map((t, i) => [t, i]).sort((a, b) => byRank(a[0], b[0]));
    const cols = model.targets.map((t, j) => [t, j]).sort((a, b) => byRank(a[0], b[0]));
    const n = Math.max(rows.length, cols.length);
    const cell = n <= 15 ? 38 : n <= 30 ? 24 : 12;
    const annotate = n <= DATA.annotateLimit;
    // Margins fit the longest label (cut at LABEL_MAX characters; the full name is in its <title>).
    const longest = [...rows, ...cols].reduce((n, [task]) => Math.max(n, axisLabel(task).length), 2);
    // At least the width of "source ↓" and room above the column labels for "evaluated on (target)".
    const left = Math.max(62, Math.round(16 + 6.6 * longest));
    const top = Math.max(46, Math.round(24 + 5.9 * longest));
    const width = Math.max(left + cols.length * cell + 10, left + 420);
    const height = top + rows.length * cell + 64;
    const svg = svgEl("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height,
      preserveAspectRatio: "xMinYMin meet", role: "img", "aria-label": "PGF matrix of " + model.label,
      class: "heatmap-svg" });
    const values = what === "std" ? model.std : model.mean;
    const hatch = "hatch-" + model.label.replace(/[^A-Za-z0-9_-]/g, "_") + "-" + what;
    const defs = svgEl("defs");
    const pattern = svgEl("pattern", { id: hatch, patternUnits: "userSpaceOnUse", width: 5, height: 5,
      patternTransform: "rotate(45)" });
    pattern.appendChild(svgEl("line", { x1: 0, y1: 0, x2: 0, y2: 5, stroke: "#8c959f", "stroke-width": 1 }));
    defs.appendChild(pattern);
    svg.appendChild(defs);
    const stdMax = model.std.flat().filter(isNum).reduce((a, b) => Math.max(a, b), 1e-12);
    cols.forEach(([target], c) => {
      const x = left + c * cell + cell / 2;
      const label = svgEl("text", { x: x, y: top - 6, "text-anchor": "start", "font-size": 11,
        transform: "rotate(-60 " + x + " " + (top - 6) + ")", fill: levelColour(target) }, axisLabel(target));
      label.appendChild(svgEl("title", {}, target));
      svg.appendChild(label);
    });
    rows.forEach(([source, i], r) => {
      const y = top + r * cell + cell / 2;
      const label = svgEl("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11,
        fill: levelColour(source) }, axisLabel(source));
      label.appendChild(svgEl("title", {}, source));
      svg.appendChild(label);
      cols.forEach(([target, j], c) => {
        const value = values[i][j];
        const self = source === target;
        let fill = "#ffffff";
        let light = true;
        if (self && what === "mean") fill = "#e0e0e0";
        else if (isNum(value)) {
          const colour = what === "std" ? ramp(SEQUENTIAL, value / stdMax) : pgfColour(value);
          fill = colour.css;
          light = colour.light;
        }
        // Not significant: the colour faded and hatched, so only cells that mean something stand out.
        const faint = what === "mean" && !self && isNum(value) && !model.sig[i][j];
        svg.appendChild(svgEl("rect", { x: left + c * cell, y: top + r * cell, width: cell - 1, height: cell - 1,
          fill: fill, "fill-opacity": faint ? 0.35 : null, class: "cell" + (faint ? " not-significant" : ""),
          "data-i": i, "data-j": j }));
        if (faint) {
          svg.appendChild(svgEl("rect", { x: left + c * cell, y: top + r * cell, width: cell - 1, height: cell - 1,
            fill: "url(#" + hatch + ")", "pointer-events": "none", class: "hatch" }));
        }
        if (annotate && isNum(value)) {
          svg.appendChild(svgEl("text", { x: left + c * cell + cell / 2 - 0.5, y: top + r * cell + cell / 2 + 3.5,
            "text-anchor": "middle", "font-size": cell >= 30 ? 10 : 8, fill: faint ? "#57606a" : light ? "#111" : "#fff",
            "font-style": self ? "italic" : null, "font-weight": what === "mean" && model.sig[i][j] ? 600 : null,
            "pointer-events": "none" }, short(value)));
        }
      });
    });
    append(svg,
      svgEl("text", { x: left, y: 12, "font-size": 11, fill: "#656d76" }, "evaluated on (target) →"),
      svgEl("text", { x: 4, y: top - 6, "font-size": 11, fill: "#656d76" }, "source ↓"));
    svg.appendChild(colourBar(what, stdMax, left, top + rows.length * cell + 18));
    svg.addEventListener("mousemove", (event) => {
      const target = event.target;
      if (!target.classList || !target.classList.contains("cell")) return hideTooltip();
      showTooltip(event, cellLines(model, Number(target.getAttribute("data-i")),
        Number(target.getAttribute("data-j"))));
    });
    svg.addEventListener("mouseleave", hideTooltip);
    return svg;
  }

  // A horizontal colour scale under the matrix, drawn from the same stops as the cells.
  function colourBar(what, stdMax, x, y) {
    const group = svgEl("g", { class: "colour-bar" });
    const stops = what === "std" ? SEQUENTIAL : DIVERGING;
    const width = 240;
    const step = width / stops.length;
    stops.forEach((rgb, k) => {
      group.appendChild(svgEl("rect", { x: x + k * step, y: y, width: step + 0.5, height: 10,
        fill: "rgb(" + rgb.join(",") + ")" }));
    });
    const low = what === "std" ? 0 : -DATA.limit;
    const high = what === "std" ? stdMax : DATA.limit;
    const labels = what === "std" ? [[0, low], [width, high]] : [[0, low], [width / 2, 0], [width, high]];
    for (const [offset, value] of labels) {
      group.appendChild(svgEl("text", { x: x + offset, y: y + 24, "font-size": 10, "text-anchor": "middle",
        fill: "#656d76" }, value === 0 ? "0" : signed(value)));
    }
    group.appendChild(svgEl("text", { x: x + width + 10, y: y + 9, "font-size": 10, fill: "#656d76" },
      what === "std" ? "std of PGF" : "PGF (saturates beyond ±" + DATA.limit.toFixed(2) + ")"));
    return group;
  }

  function axisLabel(task) {
    const text = abbr(task);
    return text.length > LABEL_MAX ? text.slice(0, LABEL_MAX - 1) + "…" : text;
  }

  function short(value) {
    const text = value.toFixed(2);
    return Math.abs(value) < 1 ? text.replace("0.", ".") : text;
  }

  function cellLines(model, i, j) {
    const source = model.sources[i];
    const target = model.targets[j];
    const lines = [source + " → " + target + (source === target ? " (self-transfer)" : ""),
      "PGF mean " + signed(model.mean[i][j]) + "   std " + format(model.std[i][j])];
    const seeds = model.seeds.map((seed, s) => seed + ": " + signed(model.perSeed[s][i][j]));
    lines.push("per seed: " + seeds.join(", "));
    const low = model.ciLow[i][j];
    const high = model.ciHigh[i][j];
    lines.push("95 % CI " + (isNum(low) && isNum(high) ? "[" + signed(low) + ", " + signed(high) + "]" : "n/a") +
      "   p " + pValue(model.p[i][j]) + "   q " + pValue(model.q[i][j]) +
      (model.sig[i][j] ? "   significant" : "   not significant"));
    const step = model.resolution[j];
    if (isNum(step)) lines.push("one question on " + target + " = " + step.toFixed(3) + " PGF");
    lines.push("uncertainty: " + uncertaintyText(model));
    return lines;
  }

  function pValue(value) {
    if (!isNum(value)) return "n/a";
    return value < 0.001 ? value.toExponential(1) : value.toFixed(3);
  }

  function uncertaintyText(model) {
    if (model.uncertainty === "questions+seeds") return "intervals and tests from questions and seeds";
    if (model.uncertainty === "seeds") return "across seeds only, question sampling unseen";
    return "one seed, no per-question results: none";
  }

  function levelColour(task) {
    return LEVEL_COLOURS.get(taskInfo(task).level) || "#757575";
  }

  // ---- transfer graph ----------------------------------------------------------------------------

  function graphSection(model, container, index) {
    const candidates = graphEdges(model);
    const maxAbs = candidates.reduce((a, edge) => Math.max(a, Math.abs(edge.value)), 1e-9);
    const controls = el("div", { class: "controls" });
    const signSelect = el("select", { "aria-label": "edge sign", class: "sign-filter" });
    for (const [value, label] of [["all", "all edges"], ["positive", "positive only"], ["negative", "negative only"]]) {
      signSelect.appendChild(el("option", { value: value }, label));
    }
    const slider = el("input", { type: "range", min: 0, max: maxAbs.toFixed(4), step: (maxAbs / 200).toFixed(5),
      value: 0, class: "threshold", "aria-label": "minimum |PGF|" });
    const sliderText = el("span", { class: "threshold-value" }, "0.000");
    const topOnly = el("input", { type: "checkbox", class: "top-only" });
    topOnly.checked = true;
    const sigOnly = el("input", { type: "checkbox", class: "significant-only" });
    const count = el("span", { class: "edge-count" });
    append(controls,
      append(el("label"), el("span", {}, "show"), signSelect),
      append(el("label"), el("span", {}, "|PGF| ≥"), slider, sliderText),
      append(el("label"), topOnly, el("span", {}, "only the analysed top " +
        Math.round(100 * DATA.options.edge_fraction) + " % per sign")),
      append(el("label"), sigOnly, el("span", {}, "only significant (q < " + DATA.options.alpha + ")")),
      count);
    const info = el("p", { class: "note graph-info" }, "Click a task to highlight its outgoing and incoming edges; " +
      "drag tasks to rearrange.");
    const chart = el("div", { class: "chart graph" });
    const card = el("div", { class: "card" });
    container.appendChild(card);
    append(card, el("h2", {}, "Transfer graph"), controls, info, chart, graphLegend(model));
    const graph = transferGraph(model, candidates, maxAbs, index, info);
    chart.appendChild(graph.svg);
    const update = () => {
      sliderText.textContent = Number(slider.value).toFixed(3);
      const shown = graph.filter(signSelect.value, Number(slider.value), topOnly.checked, sigOnly.checked);
      count.textContent = shown + " edge" + (shown === 1 ? "" : "s") + " shown";
    };
    signSelect.addEventListener("change", update);
    slider.addEventListener("input", update);
    topOnly.addEventListener("change", update);
    sigOnly.addEventListener("change", update);
    update();
  }

  // Every off-diagonal cell is a candidate edge (strongest first, capped); the analysed ones are marked.
  function graphEdges(model) {
    const top = new Set(model.edges.map((edge) => edge[0] + "\u0000" + edge[1]));
    const edges = [];
    model.sources.forEach((source, i) => {
      model.targets.forEach((target, j) => {
        const value = model.mean[i][j];
        if (source === target || !isNum(value) || value === 0) return;
        edges.push({ source: source, target: target, value: value, top: top.has(source + "\u0000" + target),
          significant: model.sig[i][j] });
      });
    });
    edges.sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
    return edges.slice(0, DATA.maxGraphEdges);
  }

  function transferGraph(model, edges, maxAbs, index, info) {
    const size = 620;
    const radius = 17;
    const reach = size / 2 - 50;
    const svg = svgEl("svg", { width: size, height: size, viewBox: "0 0 " + size + " " + size, class: "graph-svg",
      role: "img", "aria-label": "transfer graph of " + model.label });
    const defs = svgEl("defs");
    for (const [name, colour] of [["pos", DATA.colours.positive], ["neg", DATA.colours.negative]]) {
      const marker = svgEl("marker", { id: "arrow-" + name + "-" + index, viewBox: "0 0 10 10", refX: 9, refY: 5,
        markerWidth: 5, markerHeight: 5, orient: "auto-start-reverse" });
      marker.appendChild(svgEl("path", { d: "M0,0 L10,5 L0,10 z", fill: colour }));
      defs.appendChild(marker);
    }
    svg.appendChild(defs);
    const background = svgEl("rect", { x: 0, y: 0, width: size, height: size, fill: "transparent" });
    svg.appendChild(background);
    const edgeLayer = svgEl("g", { class: "edges" });
    const nodeLayer = svgEl("g", { class: "nodes" });
    append(svg, edgeLayer, nodeLayer);
    const position = new Map();
    for (const [task, x, y] of model.positions) {
      position.set(task, { x: size / 2 + x * reach, y: size / 2 - y * reach });
    }
    const paths = edges.map((edge) => {
      const strength = Math.abs(edge.value) / maxAbs;
      const path = svgEl("path", { class: "edge", stroke: edge.value > 0 ? DATA.colours.positive : DATA.colours.negative,
        "stroke-width": (1 + 4 * strength).toFixed(2), opacity: (0.3 + 0.7 * strength).toFixed(3),
        "marker-end": "url(#arrow-" + (edge.value > 0 ? "pos" : "neg") + "-" + index + ")",
        "data-source": edge.source, "data-target": edge.target });
      path.appendChild(svgEl("title", {}, edge.source + " → " + edge.target + ": PGF " + signed(edge.value) +
        (edge.significant ? " (significant)" : " (not significant)")));
      if (!edge.significant) path.setAttribute("stroke-dasharray", "4 3");
      edgeLayer.appendChild(path);
      return { edge: edge, path: path };
    });
    const nodes = new Map();
    for (const task of position.keys()) {
      const group = svgEl("g", { class: "node", tabindex: 0, role: "button", "data-task": task,
        "aria-label": task });
      append(group,
        svgEl("circle", { r: radius, fill: levelColour(task), stroke: "#fff", "stroke-width": 1.5 }),
        svgEl("text", { "text-anchor": "middle", y: 4, "font-size": 10, "font-weight": 600, fill: "#fff",
          "pointer-events": "none" }, abbr(task).slice(0, 4)),
        svgEl("title", {}, task));
      nodeLayer.appendChild(group);
      nodes.set(task, group);
    }
    let selected = null;

    function place() {
      for (const [task, group] of nodes) {
        const p = position.get(task);
        group.setAttribute("transform", "translate(" + p.x.toFixed(1) + " " + p.y.toFixed(1) + ")");
      }
      for (const item of paths) {
        if (item.path.style.display !== "none") item.path.setAttribute("d", curve(item.edge));
      }
    }

    // A gentle quadratic bow (as in the figures), trimmed so the arrow ends at the node's rim.
    function curve(edge) {
      const a = position.get(edge.source);
      const b = position.get(edge.target);
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const cx = (a.x + b.x) / 2 - 0.1 * dy;
      const cy = (a.y + b.y) / 2 + 0.1 * dx;
      const start = toward(a, { x: cx, y: cy }, radius + 1);
      const end = toward(b, { x: cx, y: cy }, radius + 3);
      return "M" + start.x.toFixed(1) + "," + start.y.toFixed(1) + " Q" + cx.toFixed(1) + "," + cy.toFixed(1) +
        " " + end.x.toFixed(1) + "," + end.y.toFixed(1);
    }

    function toward(from, to, distance) {
      const length = Math.hypot(to.x - from.x, to.y - from.y) || 1;
      return { x: from.x + (to.x - from.x) * distance / length, y: from.y + (to.y - from.y) * distance / length };
    }

    function highlight() {
      let outgoing = 0;
      let incoming = 0;
      for (const item of paths) {
        const visible = item.path.style.display !== "none";
        const touches = selected !== null && (item.edge.source === selected || item.edge.target === selected);
        item.path.classList.toggle("highlighted", touches && visible);
        item.path.classList.toggle("dim", selected !== null && !touches);
        if (touches && visible) {
          if (item.edge.source === selected) outgoing += 1;
          else incoming += 1;
        }
      }
      const neighbours = new Set([selected]);
      for (const item of paths) {
        if (item.path.classList.contains("highlighted")) {
          neighbours.add(item.edge.source);
          neighbours.add(item.edge.target);
        }
      }
      for (const [task, group] of nodes) {
        group.classList.toggle("selected", task === selected);
        group.classList.toggle("dim", selected !== null && !neighbours.has(task));
      }
      info.textContent = selected === null
        ? "Click a task to highlight its outgoing and incoming edges; drag tasks to rearrange."
        : selected + ": " + outgoing + " outgoing and " + incoming + " incoming edges shown (click again to clear).";
    }

    function toggle(task) {
      selected = selected === task ? null : task;
      highlight();
    }

    function pointFromEvent(event) {
      const box = svg.getBoundingClientRect();
      return { x: (event.clientX - box.left) * size / box.width, y: (event.clientY - box.top) * size / box.height };
    }

    for (const [task, group] of nodes) {
      let drag = null;
      const p = position.get(task);
      group.addEventListener("pointerdown", (event) => {
        drag = { start: pointFromEvent(event), origin: { x: p.x, y: p.y }, moved: false };
        group.setPointerCapture(event.pointerId);
        event.preventDefault();
      });
      group.addEventListener("pointermove", (event) => {
        if (!drag) return;
        const point = pointFromEvent(event);
        const dx = point.x - drag.start.x;
        const dy = point.y - drag.start.y;
        if (Math.hypot(dx, dy) > 3) drag.moved = true;
        p.x = Math.min(size - radius, Math.max(radius, drag.origin.x + dx));
        p.y = Math.min(size - radius, Math.max(radius, drag.origin.y + dy));
        place();
      });
      group.addEventListener("pointerup", () => {
        if (drag && !drag.moved) toggle(task);
        drag = null;
      });
      group.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          toggle(task);
          event.preventDefault();
        }
      });
    }
    background.addEventListener("click", () => {
      selected = null;
      highlight();
    });

    function filter(sign, threshold, topOnly, significantOnly) {
      let shown = 0;
      for (const item of paths) {
        const edge = item.edge;
        const visible = (sign === "all" || (sign === "positive") === (edge.value > 0)) &&
          Math.abs(edge.value) >= threshold && (!topOnly || edge.top) && (!significantOnly || edge.significant);
        item.path.style.display = visible ? "" : "none";
        if (visible) shown += 1;
      }
      place();
      highlight();
      return shown;
    }

    place();
    return { svg: svg, filter: filter };
  }

  function graphLegend(model) {
    const legend = el("div", { class: "legend" });
    const item = (colour, label) => append(el("span"), swatch(colour), el("span", {}, label));
    append(legend, item(DATA.colours.positive, "positive transfer (source helps target)"),
      item(DATA.colours.negative, "negative transfer"));
    const levels = new Set(model.positions.map((entry) => taskInfo(entry[0]).level));
    for (const [level, colour] of LEVEL_COLOURS) {
      if (levels.has(level)) legend.appendChild(item(colour, level + " perceptual level"));
    }
    legend.appendChild(el("span", {}, "width and opacity grow with |PGF|; dashed: not significant"));
    return legend;
  }

  function swatch(colour) {
    const span = el("span", { class: "swatch" });
    span.style.background = colour;
    return span;
  }

  // ---- panels ------------------------------------------------------------------------------------

  function overview(section) {
    const summary = el("dl", { class: "summary" });
    const rows = [
      ["models", DATA.modelOrder.join(", ")],
      ["tasks", DATA.tasks.length + " (" + DATA.tasks.map((task) => task.abbreviation).join(", ") + ")"],
      ["edges kept", Math.round(100 * DATA.options.edge_fraction) + " % of positive and of negative per model"],
      ["self-transfer", DATA.options.include_self ? "counted in the scores" : "excluded from the scores"],
      ["significant cells", DATA.models.map((model) => model.label + ": " + significantCount(model)).join("; ") +
        " (q < " + DATA.options.alpha + ", Benjamini-Hochberg over each model's off-diagonal cells)"],
      ["written by", DATA.generator],
    ];
    for (const [term, description] of rows) append(summary, el("dt", {}, term), el("dd", {}, description));
    append(section, el("h2", {}, "Summary"), summary);
    for (const table of DATA.tables) section.appendChild(tableBlock(table));
  }

  function significantCount(model) {
    let total = 0;
    let found = 0;
    model.sources.forEach((source, i) => model.targets.forEach((target, j) => {
      if (source === target || !isNum(model.mean[i][j])) return;
      total += 1;
      if (model.sig[i][j]) found += 1;
    }));
    return found + " of " + total + " off-diagonal";
  }

  function modelPanel(model, index) {
    return (section) => {
      const row = el("div", { class: "row" });
      section.appendChild(row);
      heatmapSection(model, row);
      graphSection(model, row, index);
      section.appendChild(el("h2", {}, "Tables"));
      for (const table of model.tables) section.appendChild(tableBlock(table));
    };
  }

  function figuresPanel(section) {
    section.appendChild(el("p", { class: "note" }, "The static figures" +
      (DATA.figureFormats.length ? " (full resolution in figures/)" : "") +
      ". Heatmaps and graphs of single models are drawn interactively in their tabs."));
    for (const figure of DATA.figures) section.appendChild(figureBlock(figure, true));
  }

  function figureBlock(figure, titled) {
    const img = el("img", { alt: figure.title, src: "data:image/png;base64," + figure.png });
    const files = DATA.figureFormats.map((format, k) => (k ? "." : "figures/" + figure.name + ".") + format);
    return append(el("figure", { "data-figure": figure.name }), titled ? el("h2", {}, figure.title) : null, img,
      el("figcaption", {}, figure.caption + (files.length ? " (" + files.join(", ") + ")" : "")));
  }

  function main() {
    document.getElementById("title").textContent = DATA.title;
    document.getElementById("subtitle").textContent = DATA.subtitle;
    const panels = [{ label: "Overview", draw: overview }];
    DATA.models.forEach((model, index) => {
      panels.push({ label: model.label, draw: modelPanel(model, index) });
    });
    if (DATA.figures.length) panels.push({ label: "Figures", draw: figuresPanel });
    buildTabs(panels);
    document.body.setAttribute("data-ready", "true");
  }

  main();
})();
