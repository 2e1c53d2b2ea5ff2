// The dashboard's shell: login, the navigation bar, the connection (with reconnects) and the hash router.
//
// The token is kept in sessionStorage (this tab only, gone when it closes), sent as a Bearer header to
// /dashboard/auth and in the WebSocket subprotocol list; never in a URL, never logged.

import { LiveRpc, Rpc } from "./rpc.js";

const TOKEN_KEY = "cc-executor.token";
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];

// Views are loaded when first shown: the jobs table does not pay for xterm.js, and a view that fails to load
// says so in its place instead of breaking the whole page.
const VIEWS = {
  jobs: () => import("./jobs.js"),
  job: () => import("./job.js"),
  attention: () => import("./attention.js"),
  history: () => import("./history.js"),
  health: () => import("./health.js"),
};

const $ = (id) => document.getElementById(id);

const app = {
  token: null,
  live: new LiveRpc(),
  started: false,
  loggedOut: false,
  attempt: 0,
  retryTimer: null,
  view: null, // {name, params, unmount, handlesReconnect}
  routeSeq: 0,
};
// For tests and for poking around in devtools: the connection facade (never the token).
window.__ccApp = { rpc: app.live };

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage refused (private mode quota): the token then lives only in memory for this page
  }
}

// GET /dashboard/auth: {ok, version, token_required} or 401. Returns {status, body}.
async function checkAuth(token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetch("/dashboard/auth", { headers, cache: "no-store", credentials: "omit" });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  return { status: res.status, body };
}

function showLogin(message) {
  $("topbar").hidden = true;
  $("view").replaceChildren();
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  const input = $("token");
  input.value = "";
  input.focus();
}

function setStatus(kind, text) {
  const s = $("conn-status");
  s.className = `conn conn-${kind}`;
  s.textContent = text;
}

async function boot() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", logout);
  window.addEventListener("hashchange", route);
  app.live.onState((up) => {
    if (up) setStatus("up", "connected");
  });

  const token = storedToken();
  let auth;
  try {
    auth = await checkAuth(token);
  } catch (err) {
    showLogin(`Cannot reach the server: ${err.message}`);
    return;
  }
  if (auth.status === 200 && auth.body && auth.body.token_required === false) {
    start(null, auth.body, false);
  } else if (auth.status === 200 && token) {
    start(token, auth.body, true);
  } else {
    if (token) storeToken(null);
    showLogin(token ? "Wrong token" : "");
  }
}

async function onLogin(ev) {
  ev.preventDefault();
  const token = $("token").value.trim();
  const error = $("login-error");
  if (!token) {
    error.textContent = "Enter the token";
    return;
  }
  error.textContent = "";
  let auth;
  try {
    auth = await checkAuth(token);
  } catch (err) {
    error.textContent = `Cannot reach the server: ${err.message}`;
    return;
  }
  if (auth.status === 401) {
    error.textContent = "Wrong token";
    $("token").select();
    return;
  }
  if (auth.status !== 200) {
    error.textContent = `The server answered ${auth.status}${auth.body && auth.body.error ? ": " + auth.body.error : ""}`;
    return;
  }
  storeToken(token);
  start(token, auth.body, true);
}

function start(token, authBody, tokenRequired) {
  app.token = token;
  app.loggedOut = false;
  $("login").hidden = true;
  $("topbar").hidden = false;
  $("logout").hidden = !tokenRequired;
  $("server-version").textContent = authBody && authBody.version ? `v${authBody.version}` : "";
  if (!location.hash || location.hash === "#" || location.hash === "#/") {
    history.replaceState(null, "", "#/jobs");
  }
  connect(false);
}

async function connect(isReconnect) {
  app.retryTimer = null;
  setStatus("connecting", isReconnect ? "reconnecting\u2026" : "connecting\u2026");
  let rpc;
  try {
    rpc = await Rpc.connect(app.token);
  } catch (err) {
    if (app.loggedOut) return;
    // Refused: the token may have been rotated. Ask /dashboard/auth, which can say so (the socket cannot).
    try {
      const auth = await checkAuth(app.token);
      if (auth.status === 401) {
        storeToken(null);
        showLogin("Wrong token (the server no longer accepts it)");
        return;
      }
    } catch {
      // the server is down: keep retrying
    }
    scheduleReconnect(isReconnect || app.started, err.message);
    return;
  }
  if (app.loggedOut) {
    rpc.close();
    return;
  }
  app.attempt = 0;
  rpc.onClose(() => {
    if (app.live.rpc !== rpc) return;
    app.live.dropped();
    if (!app.loggedOut) scheduleReconnect(true, "connection lost");
  });
  const wasStarted = app.started;
  app.started = true;
  app.live.use(rpc, wasStarted);
  if (!wasStarted) {
    route();
  } else if (app.view && !app.view.handlesReconnect) {
    // A view that keeps no server-side state of its own is simply shown again with fresh data.
    remount();
  }
}

function scheduleReconnect(isReconnect, why) {
  const delay = BACKOFF_MS[Math.min(app.attempt, BACKOFF_MS.length - 1)] * (0.8 + Math.random() * 0.4);
  app.attempt++;
  setStatus("down", `disconnected \u2014 reconnecting in ${Math.ceil(delay / 1000)} s`);
  $("conn-status").title = why || "";
  app.retryTimer = setTimeout(() => connect(isReconnect), delay);
}

function logout() {
  app.loggedOut = true;
  storeToken(null);
  if (app.retryTimer) clearTimeout(app.retryTimer);
  unmountView();
  if (app.live.rpc) app.live.rpc.close();
  app.started = false;
  showLogin("");
}

function parseHash() {
  const parts = (location.hash || "#/jobs").replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const name = parts[0] || "jobs";
  return { name, params: parts.slice(1) };
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function unmountView() {
  if (!app.view) return;
  const v = app.view;
  app.view = null;
  for (const off of v.offs) off();
  try {
    if (v.unmount) v.unmount();
  } catch (err) {
    console.error("unmount failed", err);
  }
}

function remount() {
  if (!app.view) return;
  const { name, params } = app.view;
  mountView(name, params);
}

function route() {
  if (!app.started) return;
  const { name, params } = parseHash();
  mountView(name, params);
}

async function mountView(name, params) {
  const seq = ++app.routeSeq;
  unmountView();
  for (const a of document.querySelectorAll("a[data-nav]")) {
    const current = a.dataset.nav === name || (name === "job" && a.dataset.nav === "jobs");
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = $("view");
  root.replaceChildren();
  const loader = VIEWS[name];
  if (!loader) {
    root.append(message(`No such page: #/${name}`));
    return;
  }
  let mod;
  try {
    mod = await loader();
  } catch (err) {
    if (seq === app.routeSeq) root.append(message(`This view could not be loaded: ${err.message}`));
    return;
  }
  if (seq !== app.routeSeq) return; // the user went elsewhere meanwhile
  const view = { name, params, unmount: null, handlesReconnect: false, offs: [] };
  const ctx = {
    rpc: app.live,
    navigate,
    params,
    // A view that renews its own server-side state after a reconnect (re-attach from the last seq) says so
    // here; other views are remounted after a reconnect.
    onReconnect(handler) {
      view.handlesReconnect = true;
      const off = app.live.onReconnect(handler);
      view.offs.push(off);
      return off;
    },
  };
  app.view = view;
  try {
    view.unmount = mod.mount(root, ctx) || null;
  } catch (err) {
    console.error(err);
    root.replaceChildren(message(`This view failed: ${err.message}`));
  }
}

function message(text) {
  const p = document.createElement("p");
  p.className = "view-message";
  p.textContent = text;
  return p;
}

boot();
