// The portal's page: log in, then a participant's pod or the instructor's
// room, all through the JSON API under /api/v1. Data from the server is
// only ever set as text, never as markup (the guide and the picture are
// made by the server from the lab's own files).
"use strict";

const $ = (id) => document.getElementById(id);
let session = null;

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session) headers["X-CSRF-Token"] = session.csrf;
  const resp = await fetch("/api/v1" + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = null;
  const type = resp.headers.get("Content-Type") || "";
  if (type.startsWith("application/json")) data = await resp.json();
  if (!resp.ok) {
    const e = new Error((data && data.error) || resp.statusText);
    e.status = resp.status;
    throw e;
  }
  return data;
}

function show(id) {
  for (const s of ["login", "pod", "room"]) $(s).hidden = s !== id;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fail(e) {
  if (e.status === 401) return start();
  $("error").textContent = e.message;
}

// --- Log in -------------------------------------------------------------

function loginPage() {
  const q = new URLSearchParams(location.search);
  if (q.get("lab")) $("f-lab").value = q.get("lab");
  if (q.get("pod")) $("f-pod").value = q.get("pod");
  $("who").textContent = "";
  $("logout").hidden = true;
  show("login");
}

async function login(body) {
  $("login-error").textContent = "";
  try {
    session = await api("POST", "/login", body);
    route();
  } catch (e) {
    $("login-error").textContent = e.message;
  }
}

$("participant-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  login({
    lab: $("f-lab").value.trim(),
    pod: Number($("f-pod").value),
    user: $("f-user").value.trim(),
    password: $("f-password").value.trim(),
  });
});

$("instructor-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  login({ token: $("f-token").value.trim() });
});

$("logout").addEventListener("click", async () => {
  try { await api("POST", "/logout"); } catch (e) { /* ended already */ }
  session = null;
  location.hash = "";
  loginPage();
});

// --- Where to go --------------------------------------------------------

// #/labs/LAB/pods/N for a pod, #/labs/LAB/board for the room.
function route() {
  $("error").textContent = "";
  $("who").textContent = session.role === "instructor"
    ? "instructor" : `${session.lab}, pod ${session.pod}`;
  $("logout").hidden = false;
  const m = location.hash.match(/^#\/labs\/([a-z0-9-]+)\/(?:pods\/(\d+)|board)$/);
  if (m && m[2]) return podPage(m[1], Number(m[2]));
  if (m) return roomPage(m[1]);
  if (session.role === "instructor") {
    location.hash = `#/labs/${session.labs[0]}/board`;
  } else {
    location.hash = `#/labs/${session.lab}/pods/${session.pod}`;
  }
}

window.addEventListener("hashchange", () => session && route());

// --- A pod --------------------------------------------------------------

async function podPage(lab, pod) {
  closeTerminals();
  stopEvents();
  show("pod");
  $("pod-title").textContent = `Lab ${lab}, pod ${pod}`;
  const body = $("nodes").tBodies[0];
  body.replaceChildren();
  $("checks").tBodies[0].replaceChildren();
  $("checks-note").textContent = "";
  let view;
  try {
    view = await api("GET", `/labs/${lab}/pods/${pod}`);
  } catch (e) {
    show("");
    return fail(e);
  }
  for (const n of view.nodes) {
    const row = body.insertRow();
    row.dataset.node = n.node;
    cell(row, n.node);
    cell(row, n.kind);
    cell(row, n.state);
    cell(row, n.health, n.health);
    const open = document.createElement("button");
    open.textContent = "Terminal";
    open.className = "open-terminal";
    open.disabled = n.state !== "running";
    open.onclick = () => openTerminal(lab, pod, n.node);
    cell(row, "").append(open);
  }
  $("run-checks").onclick = () => runChecks(lab, pod);
  $("picture").src = `/api/v1/labs/${lab}/pods/${pod}/graph.svg`;
  loadGuide(lab, null);
}

async function runChecks(lab, pod) {
  $("checks-note").textContent = "running...";
  try {
    const view = await api("GET", `/labs/${lab}/pods/${pod}/checks`);
    const body = $("checks").tBodies[0];
    body.replaceChildren();
    for (const c of view.checks) {
      const row = body.insertRow();
      cell(row, String(c.step));
      cell(row, c.title);
      const r = cell(row, c.status, c.status === "pass" ? "pass" : "fail");
      if (c.detail) r.title = c.detail + (c.output ? "\n" + c.output : "");
    }
    const passed = view.checks.filter((c) => c.status === "pass").length;
    $("checks-note").textContent = `${passed} of ${view.checks.length} pass`;
  } catch (e) {
    $("checks-note").textContent = e.message;
  }
}

// --- Terminals ----------------------------------------------------------

const terminals = new Map();

function openTerminal(lab, pod, node) {
  if (terminals.has(node)) return;
  const box = document.createElement("div");
  box.className = "terminal";
  box.dataset.node = node;
  const title = document.createElement("h3");
  title.textContent = `${node} (pod ${pod})`;
  const close = document.createElement("button");
  close.textContent = "Close";
  close.className = "close";
  title.append(close);
  const screen = document.createElement("div");
  screen.className = "screen";
  box.append(title, screen);
  $("terminals").append(box);

  const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 2000 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(screen);
  fit.fit();
  const url = new URL(`/api/v1/labs/${lab}/pods/${pod}/nodes/${node}/terminal`, location.href);
  url.protocol = "wss:";
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const encoder = new TextEncoder();
  const sendSize = () => {
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ cols: term.cols, rows: term.rows }));
    }
  };
  ws.onopen = () => { sendSize(); term.focus(); };
  ws.onmessage = (ev) => term.write(new Uint8Array(ev.data));
  ws.onclose = () => term.write("\r\n[session ended]\r\n");
  term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(encoder.encode(d)));
  term.onResize(sendSize);
  const resized = () => fit.fit();
  window.addEventListener("resize", resized);
  close.onclick = () => {
    ws.close();
    term.dispose();
    window.removeEventListener("resize", resized);
    box.remove();
    terminals.delete(node);
  };
  terminals.set(node, close);
}

function closeTerminals() {
  for (const close of [...terminals.values()]) close.onclick();
}

// --- Guide --------------------------------------------------------------

async function loadGuide(lab, lang) {
  try {
    const g = await api("GET", `/labs/${lab}/guide${lang ? "?lang=" + lang : ""}`);
    const select = $("guide-lang");
    select.replaceChildren();
    for (const l of g.languages) {
      const o = document.createElement("option");
      o.value = l;
      o.textContent = l;
      o.selected = l === g.lang;
      select.append(o);
    }
    select.hidden = g.languages.length < 2;
    select.onchange = () => loadGuide(lab, select.value);
    // Rendered on the server from the lab's Markdown, raw HTML escaped.
    $("guide").innerHTML = g.html;
  } catch (e) {
    $("guide").textContent = e.message;
  }
}

$("guide").addEventListener("click", (ev) => {
  const a = ev.target.closest("a");
  const m = a && a.getAttribute("href").match(/^#guide-([a-z-]+)$/);
  if (!m) return;
  ev.preventDefault();
  const lab = location.hash.match(/^#\/labs\/([a-z0-9-]+)\//);
  if (lab) loadGuide(lab[1], m[1]);
});

// --- The room -----------------------------------------------------------

let events = null;

function stopEvents() {
  if (events) events.close();
  events = null;
}

// The board comes live from the server (server-sent events), refreshed
// by its background loop; the first one may take a while on a big room.
function roomPage(lab) {
  closeTerminals();
  stopEvents();
  show("room");
  $("room-title").textContent = `Lab ${lab}: the room`;
  $("room-note").textContent = "running the checks of every pod...";
  // Each pod's card links this portal as this browser reaches it.
  $("handout-html").href = `/api/v1/labs/${lab}/handout?format=html`;
  $("handout-csv").href = `/api/v1/labs/${lab}/handout?format=csv`;
  $("handout-csv").download = `${lab}-handout.csv`;
  events = new EventSource(`/api/v1/labs/${lab}/board/events`);
  events.addEventListener("board", (ev) => drawBoard(lab, JSON.parse(ev.data)));
  events.onerror = async () => {
    // Ended session, or the portal restarting: ask once what it is.
    try {
      await api("GET", "/session");
    } catch (e) {
      stopEvents();
      fail(e);
    }
  };
}

function drawBoard(lab, board) {
  const head = $("board").tHead;
  head.replaceChildren();
  const h = head.insertRow();
  cell(h, "Pod");
  for (const c of board.columns) cell(h, `${c.step}. ${c.title}`).dataset.check = c.id;
  cell(h, "");
  const body = $("board").tBodies[0];
  body.replaceChildren();
  for (const p of board.pods) {
    const row = body.insertRow();
    row.dataset.pod = p.pod;
    const name = cell(row, "");
    const link = document.createElement("a");
    link.href = `#/labs/${lab}/pods/${p.pod}`;
    link.textContent = `pod ${p.pod}`;
    name.append(link);
    for (const c of board.columns) {
      const got = p.checks.find((k) => k.id === c.id);
      const td = cell(row, got ? got.status : "-", got ? (got.status === "pass" ? "pass" : "fail") : "");
      td.dataset.check = c.id;
      if (got && got.detail) td.title = got.detail;
    }
    const actions = cell(row, "");
    const reset = document.createElement("button");
    reset.textContent = "Reset";
    reset.className = "reset";
    reset.onclick = () => resetPod(lab, p.pod, reset);
    actions.append(reset);
  }
  $("room-note").textContent =
    `refreshed at ${new Date().toLocaleTimeString()} (the checks took ${board.seconds}s)`;
}

async function resetPod(lab, pod, button) {
  if (!confirm(`Reset pod ${pod}? Its nodes are recreated from the plan.`)) return;
  button.disabled = true;
  button.textContent = "resetting...";
  try {
    const r = await api("POST", `/labs/${lab}/pods/${pod}/reset`);
    button.textContent = `reset in ${r.seconds}s`;
  } catch (e) {
    button.textContent = e.message;
  }
  button.disabled = false;
}

// --- Start --------------------------------------------------------------

async function start() {
  try {
    session = await api("GET", "/session");
    route();
  } catch (e) {
    session = null;
    loginPage();
  }
}

start();
