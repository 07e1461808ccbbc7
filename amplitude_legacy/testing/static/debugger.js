// The collector's live event debugger. Every value from the server is put on the page with
// textContent (or as an attribute value), never parsed as HTML.
"use strict";

(() => {
  const MAX_ROWS = 1000; // rows kept on the page; the counts above cover everything
  const WINDOW = 60; // seconds shown in the chart

  const $ = (id) => document.getElementById(id);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  const rows = $("rows");
  const filterType = $("filter-type");
  const filterUser = $("filter-user");
  const filterStatus = $("filter-status");
  const perSecond = new Map(); // epoch second -> {stored, absorbed, dropped}
  const typesSeen = new Set();
  let paused = false;
  let waiting = [];

  const statusKind = (status) => {
    if (status === 0) return "none";
    return status >= 200 && status < 300 ? "ok" : "refused";
  };

  const clock = (ms) => {
    const date = new Date(ms);
    const pad = (n, width) => String(n).padStart(width, "0");
    return `${pad(date.getHours(), 2)}:${pad(date.getMinutes(), 2)}:${pad(date.getSeconds(), 2)}.${pad(date.getMilliseconds(), 3)}`;
  };

  const statusCell = (entry) => {
    const cell = el("td", "status");
    const label = entry.status === 0 ? "no answer" : entry.status;
    cell.append(el("span", `badge ${statusKind(entry.status)}`, label));
    return cell;
  };

  const matches = (row) => {
    const type = filterType.value.trim().toLowerCase();
    const user = filterUser.value.trim().toLowerCase();
    const status = filterStatus.value;
    if (type && !row.dataset.type.toLowerCase().includes(type)) return false;
    if (user && !row.dataset.user.toLowerCase().includes(user)) return false;
    if (status && row.dataset.status !== status) return false;
    return true;
  };

  const applyFilters = () => {
    let shown = 0;
    let total = 0;
    for (const row of rows.children) {
      if (row.classList.contains("detail")) {
        row.hidden = !row.previousElementSibling || row.previousElementSibling.hidden || !row.dataset.open;
        continue;
      }
      total += 1;
      row.hidden = !matches(row);
      if (!row.hidden) shown += 1;
    }
    $("shown").textContent = total ? `${shown} of ${total} rows` : "";
    $("rows-empty").hidden = total > 0;
  };

  const detailRow = (entry, event) => {
    const row = el("tr", "detail");
    row.hidden = true;
    const cell = el("td");
    cell.colSpan = 7;
    const facts = el("dl", "facts");
    const fact = (name, value) => {
      if (value === undefined || value === null || value === "") return;
      facts.append(el("dt", "", name), el("dd", "", value));
    };
    fact("Request", `${entry.method} ${entry.path}`);
    fact("API key", entry.api_key);
    fact("Answer", entry.status === 0 ? "none (connection closed)" : entry.status);
    fact("Error", entry.error);
    fact("Detail", entry.detail);
    if (entry.reason !== entry.error) fact("Reason", entry.reason);
    if (entry.event_count) fact("Events in the request", entry.event_count);
    cell.append(facts);
    if (event && event.json) cell.append(el("pre", "json", event.json));
    row.append(cell);
    return row;
  };

  const toggle = (row, detail) => {
    row.addEventListener("click", () => {
      detail.dataset.open = detail.dataset.open ? "" : "1";
      detail.hidden = !detail.dataset.open;
      row.classList.toggle("open", Boolean(detail.dataset.open));
    });
  };

  const fieldCell = (event, field, problems) => {
    const value = event[field];
    const cell = el("td", `field field-${field}`, value === null || value === undefined ? "" : value);
    if (value) cell.title = value;
    const problem = problems.find((p) => p.field === field);
    if (problem) {
      cell.classList.add("bad");
      cell.title = `${field}: ${problem.message}`;
      if (value === null || value === undefined) cell.textContent = "(missing)";
    }
    return cell;
  };

  const STATES = {
    stored: "stored",
    absorbed: "duplicate absorbed (insert_id seen before)",
    refused: "refused",
    "not stored": "not stored",
  };

  const eventRow = (entry, event) => {
    const row = el("tr", `event state-${event.state.replace(" ", "-")}`);
    row.dataset.type = event.event_type || "";
    row.dataset.user = `${event.user_id || ""} ${event.device_id || ""}`;
    row.dataset.status = statusKind(entry.status);
    row.dataset.state = event.state;
    const problems = event.problems || [];
    row.append(el("td", "time", clock(entry.t)), statusCell(entry));
    for (const field of ["event_type", "user_id", "device_id", "insert_id"]) {
      row.append(fieldCell(event, field, problems));
    }
    const note = el("td", "note");
    note.append(el("span", "state", STATES[event.state] || event.state));
    if (event.state !== "stored" && event.state !== "absorbed" && entry.reason && !problems.length) {
      note.append(el("span", "reason", `: ${entry.reason}`));
    }
    for (const problem of problems) {
      const line = el("div", "problem");
      line.append(el("code", "", problem.field), el("span", "", `: ${problem.message}`));
      note.append(line);
    }
    row.append(note);
    if (event.event_type) typesSeen.add(event.event_type);
    return row;
  };

  const requestRow = (entry) => {
    const row = el("tr", "request");
    row.dataset.type = "";
    row.dataset.user = "";
    row.dataset.status = statusKind(entry.status);
    row.dataset.state = "request";
    row.append(el("td", "time", clock(entry.t)), statusCell(entry));
    const what = el("td", "note");
    what.colSpan = 5;
    what.append(el("code", "", `${entry.method} ${entry.path}`));
    const message = entry.error || entry.reason || (entry.status === 200 ? "no events" : "");
    if (message) what.append(el("span", "reason", ` ${message}`));
    if (entry.detail) what.append(el("div", "problem", entry.detail));
    row.append(what);
    return row;
  };

  const countSecond = (entry) => {
    const second = Math.floor(entry.t / 1000);
    const bucket = perSecond.get(second) || { stored: 0, absorbed: 0, dropped: 0 };
    bucket.stored += entry.stored;
    bucket.absorbed += entry.absorbed;
    bucket.dropped += Math.max(0, entry.event_count - entry.stored - entry.absorbed);
    perSecond.set(second, bucket);
  };

  const show = (entry) => {
    const fragment = document.createDocumentFragment();
    const events = entry.events || [];
    if (!events.length) {
      const row = requestRow(entry);
      const detail = detailRow(entry, null);
      toggle(row, detail);
      fragment.append(row, detail);
    }
    for (const event of events) {
      const row = eventRow(entry, event);
      const detail = detailRow(entry, event);
      toggle(row, detail);
      fragment.append(row, detail);
    }
    if (entry.event_count > events.length) {
      const more = el("tr", "request more");
      more.dataset.type = "";
      more.dataset.user = "";
      more.dataset.status = statusKind(entry.status);
      const cell = el("td", "note", `and ${entry.event_count - events.length} more events in this request`);
      cell.colSpan = 7;
      more.append(cell);
      fragment.append(more);
    }
    for (const node of fragment.children) {
      if (!node.classList.contains("detail")) node.hidden = !matches(node);
    }
    rows.insertBefore(fragment, rows.firstChild);
    while (rows.children.length > 2 * MAX_ROWS) rows.lastElementChild.remove();
  };

  const refreshTypes = () => {
    const list = $("types");
    if (list.children.length === typesSeen.size) return;
    list.replaceChildren(...[...typesSeen].sort().map((type) => {
      const option = document.createElement("option");
      option.value = type;
      return option;
    }));
  };

  const receive = (entry) => {
    countSecond(entry);
    if (paused) {
      waiting.push(entry);
      return;
    }
    show(entry);
    refreshTypes();
    applyFilters();
  };

  const renderState = (state) => {
    const counts = state.counts;
    const refused = Object.values(counts.rejected).reduce((a, b) => a + b, 0);
    $("count-requests").textContent = counts.requests;
    $("count-stored").textContent = counts.events_stored;
    $("count-absorbed").textContent = counts.duplicates_absorbed;
    $("count-refused").textContent = refused;
    $("count-connections").textContent = counts.connections_refused + counts.busy;
    $("endpoint").textContent = `POST ${state.endpoints.http_api}  ·  POST ${state.endpoints.batch}`;

    const reasons = Object.entries(counts.rejected);
    const most = Math.max(1, ...reasons.map(([, n]) => n));
    $("reasons").replaceChildren(...reasons.map(([reason, n]) => {
      const item = el("li");
      item.dataset.reason = reason;
      const bar = el("span", "bar");
      bar.style.width = `${Math.max(2, (100 * n) / most)}%`;
      item.append(el("span", "label", reason), bar, el("span", "count", n));
      return item;
    }));
    $("reasons-empty").hidden = reasons.length > 0;

    $("script").replaceChildren(...state.script.map((step) => el("li", "", step)));
    $("script-empty").hidden = state.script.length > 0;
    $("down").hidden = !state.down;

    const settings = state.settings;
    const shown = [
      ["min_id_length", settings.min_id_length],
      ["eps_threshold", settings.eps_threshold === null ? "off" : settings.eps_threshold],
      ["fail_rate", settings.fail_rate],
      ["latency", `${settings.latency} s`],
      ["keep", settings.keep === null ? "everything" : `${settings.keep} most recent`],
      ["max_connections", settings.max_connections],
      ["API keys", settings.api_keys],
    ];
    $("settings").replaceChildren(...shown.flatMap(([name, value]) => [el("dt", "", name), el("dd", "", value)]));
  };

  const drawChart = () => {
    const canvas = $("rate");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 480;
    const height = canvas.clientHeight || 120;
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const now = Math.floor(Date.now() / 1000);
    for (const second of perSecond.keys()) {
      if (second <= now - WINDOW) perSecond.delete(second);
    }
    const buckets = [];
    for (let s = now - WINDOW + 1; s <= now; s += 1) {
      buckets.push(perSecond.get(s) || { stored: 0, absorbed: 0, dropped: 0 });
    }
    const top = Math.max(1, ...buckets.map((b) => b.stored + b.absorbed + b.dropped));
    const styles = getComputedStyle(canvas);
    const colors = {
      stored: styles.getPropertyValue("--stored").trim() || "#2e7d32",
      absorbed: styles.getPropertyValue("--absorbed").trim() || "#f9a825",
      dropped: styles.getPropertyValue("--dropped").trim() || "#c62828",
    };
    const plot = height - 14;
    const step = width / WINDOW;
    buckets.forEach((bucket, i) => {
      let y = plot;
      for (const kind of ["stored", "absorbed", "dropped"]) {
        const h = (bucket[kind] / top) * (plot - 12);
        if (h > 0) {
          ctx.fillStyle = colors[kind];
          ctx.fillRect(i * step + 1, y - h, Math.max(1, step - 2), h);
          y -= h;
        }
      }
    });
    ctx.fillStyle = styles.color;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(`${top}/s`, 2, 10);
    ctx.fillText("-60 s", 2, height - 2);
    ctx.fillText("now", width - 22, height - 2);
  };

  $("pause").addEventListener("click", () => {
    paused = !paused;
    $("pause").textContent = paused ? `Resume (${waiting.length})` : "Pause";
    if (!paused) {
      const backlog = waiting;
      waiting = [];
      backlog.forEach(show);
      refreshTypes();
      applyFilters();
    }
  });
  $("clear").addEventListener("click", () => {
    rows.replaceChildren();
    applyFilters();
  });
  for (const input of [filterType, filterUser, filterStatus]) {
    input.addEventListener("input", applyFilters);
    input.addEventListener("change", applyFilters);
  }
  $("filters").addEventListener("submit", (e) => e.preventDefault());

  const badge = $("connection");
  const source = new EventSource("/_debugger/stream");
  source.addEventListener("open", () => {
    badge.textContent = "live";
    badge.className = "badge ok";
    document.body.dataset.connected = "true";
  });
  source.addEventListener("error", () => {
    const closed = source.readyState === EventSource.CLOSED;
    badge.textContent = closed ? "disconnected" : "reconnecting";
    badge.className = "badge off";
    document.body.dataset.connected = "false";
  });
  source.addEventListener("request", (message) => receive(JSON.parse(message.data)));
  source.addEventListener("state", (message) => renderState(JSON.parse(message.data)));

  applyFilters();
  drawChart();
  setInterval(drawChart, 1000);
})();
