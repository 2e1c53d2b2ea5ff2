// JSON-RPC 2.0 over the server's WebSocket (/ws/mcp?framing=coalesced), as every other client speaks it.
//
// Rpc: one connection. LiveRpc: what the views get, a stable object over successive Rpc connections (the app
// reconnects with backoff); handlers given to LiveRpc.on survive a reconnect, and views that keep server-side
// state (an attach, a jobs.watch) renew it in an onReconnect handler.

const SUBPROTOCOL = "cc-executor";
const BEARER_PREFIX = "cc-executor.bearer.";
const CONNECT_TIMEOUT_MS = 15000;

// The token travels in the subprotocol list (a browser cannot set headers on a WebSocket): base64url of its
// UTF-8 bytes, no padding, so any token fits the token characters a subprotocol may hold.
function base64url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/mcp?framing=coalesced`;
}

export class RpcError extends Error {
  constructor(message, code, data) {
    super(message);
    this.name = "RpcError";
    this.code = code;
    this.data = data;
  }
}

export class Rpc {
  constructor(ws) {
    this.ws = ws;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, method}
    this.handlers = new Map(); // method -> Set(handler)
    this.closeHandlers = new Set();
    this.closed = false;
    this.info = null; // the `connected` frame's params
  }

  // Open a connection and wait for the server's `connected` frame. Rejects with a readable Error when the
  // server refuses (wrong token, Origin/Host refused: the browser only sees the socket close).
  static connect(token) {
    return new Promise((resolve, reject) => {
      const protocols = token ? [SUBPROTOCOL, BEARER_PREFIX + base64url(token)] : [SUBPROTOCOL];
      let ws;
      try {
        ws = new WebSocket(socketUrl(), protocols);
      } catch (err) {
        reject(new Error(`cannot open the WebSocket: ${err.message}`));
        return;
      }
      const rpc = new Rpc(ws);
      let settled = false;
      const timer = setTimeout(() => {
        if (!settled) {
          settled = true;
          reject(new Error("the server did not answer the WebSocket handshake in time"));
          ws.close();
        }
      }, CONNECT_TIMEOUT_MS);
      ws.onmessage = (ev) => {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          return; // not JSON (a binary frame we did not ask for): nothing for us
        }
        if (!settled && msg.method === "connected") {
          settled = true;
          clearTimeout(timer);
          rpc.info = msg.params || {};
          resolve(rpc);
          return;
        }
        rpc._dispatch(msg);
      };
      ws.onclose = (ev) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          const why = ev.code === 1006 ? "the server refused the connection (wrong token, or Origin/Host not allowed)"
            : `the connection closed (code ${ev.code}${ev.reason ? ": " + ev.reason : ""})`;
          reject(new Error(why));
        }
        rpc._closed(ev);
      };
      ws.onerror = () => {}; // onclose follows and says what happened
    });
  }

  call(method, params = {}) {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RpcError("not connected", -1));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  on(method, handler) {
    let set = this.handlers.get(method);
    if (!set) this.handlers.set(method, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  onClose(handler) {
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  close() {
    if (!this.closed) this.ws.close(1000, "closed by the page");
  }

  _dispatch(msg) {
    if (Array.isArray(msg)) {
      for (const m of msg) this._dispatch(m);
      return;
    }
    if (msg.id !== undefined && msg.id !== null && !msg.method) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new RpcError(msg.error.message || "error", msg.error.code, msg.error.data));
      else p.resolve(msg.result);
      return;
    }
    if (msg.method) {
      const set = this.handlers.get(msg.method);
      if (!set) return;
      for (const h of [...set]) {
        try {
          h(msg.params || {});
        } catch (err) {
          console.error(`handler of ${msg.method} failed`, err);
        }
      }
    }
  }

  _closed(ev) {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new RpcError(`disconnected during ${p.method}`, -1));
    this.pending.clear();
    for (const h of [...this.closeHandlers]) {
      try {
        h(ev);
      } catch (err) {
        console.error("close handler failed", err);
      }
    }
  }
}

// A stable facade over the current connection: views keep one object for their lifetime while the app
// swaps connections underneath. call() while disconnected rejects at once (a button says so) rather than
// waiting an unknown time.
export class LiveRpc {
  constructor() {
    this.rpc = null;
    this.handlers = new Map(); // method -> Set(handler), re-registered on every new connection
    this.reconnectHandlers = new Set();
    this.stateHandlers = new Set();
    this._offs = [];
  }

  get connected() {
    return this.rpc !== null && !this.rpc.closed;
  }

  get info() {
    return this.rpc ? this.rpc.info : null;
  }

  // The app hands over a new connection; `isReconnect` runs the views' onReconnect handlers.
  use(rpc, isReconnect) {
    for (const off of this._offs) off();
    this._offs = [];
    this.rpc = rpc;
    for (const [method, set] of this.handlers) {
      this._offs.push(rpc.on(method, (params) => {
        for (const h of [...set]) h(params);
      }));
    }
    this._emitState();
    if (isReconnect) {
      for (const h of [...this.reconnectHandlers]) {
        try {
          h();
        } catch (err) {
          console.error("reconnect handler failed", err);
        }
      }
    }
  }

  dropped() {
    this._emitState();
  }

  call(method, params = {}) {
    if (!this.connected) return Promise.reject(new RpcError("not connected (reconnecting)", -1));
    return this.rpc.call(method, params);
  }

  on(method, handler) {
    let set = this.handlers.get(method);
    if (!set) {
      this.handlers.set(method, (set = new Set()));
      if (this.rpc) {
        this._offs.push(this.rpc.on(method, (params) => {
          for (const h of [...set]) h(params);
        }));
      }
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  // After a reconnect: a view renews what the server forgot with the old connection (attach, jobs.watch).
  onReconnect(handler) {
    this.reconnectHandlers.add(handler);
    return () => this.reconnectHandlers.delete(handler);
  }

  // Connection state changes (connected / disconnected), for the status indicator.
  onState(handler) {
    this.stateHandlers.add(handler);
    return () => this.stateHandlers.delete(handler);
  }

  onClose(handler) {
    return this.onState(() => {
      if (!this.connected) handler();
    });
  }

  _emitState() {
    for (const h of [...this.stateHandlers]) h(this.connected);
  }
}
