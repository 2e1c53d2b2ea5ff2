// A readable view of a Claude Code stream-json run (`--output-format stream-json`: one JSON object per line,
// type system / assistant / user / result): the assistant's text, its tool calls and their results.
//
// Lines are parsed as they arrive (the partial last line is kept until its newline), and the view is
// bounded: at most MAX_ITEMS entries stay in the DOM (older ones leave, and a line at the top says how many),
// each text cut to MAX_TEXT characters. New entries are appended once per animation frame. Everything is set
// with textContent: the agent's text, tool inputs and tool results are untrusted.

import { cost, duration, el } from "./format.js";

const MAX_ITEMS = 500;
const MAX_TEXT = 4000;
const MAX_PARTIAL = 4 * 1024 * 1024; // a "line" longer than this is no stream-json event: dropped
const MAX_TOOL_NAMES = 2000;

function clip(text, max = MAX_TEXT) {
  const t = typeof text === "string" ? text : JSON.stringify(text, null, 2) ?? "";
  return t.length > max ? `${t.slice(0, max)}\u2026 (${t.length - max} more characters)` : t;
}

function resultText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((c) => (c && c.type === "text" ? c.text : c && c.type ? `[${c.type}]` : "")).join("\n");
  }
  return content === undefined || content === null ? "" : JSON.stringify(content);
}

export class AgentView {
  constructor(container, { onEvent } = {}) {
    this.container = container;
    this.onEvent = onEvent || (() => {});
    this.partial = "";
    this.pending = [];
    this.frame = 0;
    this.events = 0;
    this.dropped = 0;
    this.toolNames = new Map(); // tool_use_id -> tool name, to label the results
    this.droppedNote = el("p", { className: "agent-dropped muted", hidden: true });
    this.list = el("div", { className: "agent-items" });
    this.empty = el("p", { className: "muted" }, "No stream-json events yet.");
    container.replaceChildren(this.droppedNote, this.empty, this.list);
  }

  reset() {
    this.partial = "";
    this.pending = [];
    this.events = 0;
    this.dropped = 0;
    this.toolNames.clear();
    this.list.replaceChildren();
    this.droppedNote.hidden = true;
    this.empty.hidden = false;
  }

  // A chunk of the job's stdout.
  feed(text) {
    let data = this.partial + text;
    let start = 0;
    let nl;
    while ((nl = data.indexOf("\n", start)) !== -1) {
      this._line(data.slice(start, nl));
      start = nl + 1;
    }
    data = data.slice(start);
    this.partial = data.length > MAX_PARTIAL ? "" : data;
  }

  _line(line) {
    // Cheap test first: most output of a non-agent job is not JSON at all.
    const first = line.charCodeAt(0) === 123 ? 0 : line.search(/\S/);
    if (first < 0 || line.charCodeAt(first) !== 123) return;
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      return;
    }
    if (!ev || typeof ev !== "object" || typeof ev.type !== "string") return;
    this.events++;
    this.onEvent(ev, this.events);
    for (const item of this._items(ev)) this.pending.push(item);
    if (this.pending.length > MAX_ITEMS) {
      this.dropped += this.pending.length - MAX_ITEMS;
      this.pending.splice(0, this.pending.length - MAX_ITEMS);
    }
    if (!this.frame) this.frame = requestAnimationFrame(() => this._flush());
  }

  _items(ev) {
    const nested = ev.parent_tool_use_id ? " nested" : "";
    switch (ev.type) {
      case "system": {
        if (ev.subtype === "init") {
          const bits = [`session ${ev.session_id || "?"}`];
          if (ev.model) bits.push(`model ${ev.model}`);
          if (Array.isArray(ev.tools)) bits.push(`${ev.tools.length} tools`);
          if (ev.cwd) bits.push(`in ${ev.cwd}`);
          return [this._item("system", "start", bits.join(" \u00b7 "))];
        }
        return [this._item("system", ev.subtype || "system", clip(ev.message || ev.subtype || "", 500))];
      }
      case "assistant": {
        const content = (ev.message && ev.message.content) || [];
        const out = [];
        for (const c of content) {
          if (!c || typeof c !== "object") continue;
          if (c.type === "text" && c.text) out.push(this._item(`assistant${nested}`, "assistant", clip(c.text)));
          else if (c.type === "thinking" && c.thinking) out.push(this._item(`thinking${nested}`, "thinking", clip(c.thinking, 1000)));
          else if (c.type === "tool_use") {
            if (c.id) {
              if (this.toolNames.size > MAX_TOOL_NAMES) this.toolNames.clear();
              this.toolNames.set(c.id, c.name);
            }
            out.push(this._item(`tool-call${nested}`, `tool call: ${c.name || "?"}`, clip(c.input ?? {})));
          }
        }
        return out;
      }
      case "user": {
        const content = (ev.message && ev.message.content) || [];
        if (typeof content === "string") return [this._item(`user${nested}`, "prompt", clip(content))];
        const out = [];
        for (const c of content) {
          if (!c || typeof c !== "object") continue;
          if (c.type === "tool_result") {
            const name = this.toolNames.get(c.tool_use_id) || "tool";
            const cls = `tool-result${c.is_error ? " error" : ""}${nested}`;
            out.push(this._item(cls, `${name} result${c.is_error ? " (error)" : ""}`, clip(resultText(c.content))));
          } else if (c.type === "text" && c.text) {
            out.push(this._item(`user${nested}`, "user", clip(c.text)));
          }
        }
        return out;
      }
      case "result": {
        const bits = [ev.subtype || "result"];
        if (ev.num_turns !== undefined) bits.push(`${ev.num_turns} turns`);
        if (ev.total_cost_usd !== undefined) bits.push(cost(ev.total_cost_usd));
        if (ev.duration_ms !== undefined) bits.push(duration(ev.duration_ms / 1000));
        const cls = `result${ev.is_error ? " error" : ""}`;
        return [this._item(cls, `result: ${bits.join(" \u00b7 ")}`, clip(ev.result ?? ""))];
      }
      default:
        return []; // stream_event, rate_limit_event, ...: the raw tab has them
    }
  }

  _item(kind, title, text) {
    return { kind, title, text };
  }

  _flush() {
    this.frame = 0;
    if (!this.pending.length) return;
    const atBottom = this.container.scrollHeight - this.container.scrollTop - this.container.clientHeight < 40;
    const frag = document.createDocumentFragment();
    for (const it of this.pending) {
      frag.append(el("div", { className: `agent-item ${it.kind}` },
        el("div", { className: "agent-title" }, it.title),
        it.text ? el("pre", { className: "agent-text" }, it.text) : null));
    }
    this.pending = [];
    this.list.append(frag);
    let extra = this.list.childElementCount - MAX_ITEMS;
    while (extra-- > 0) {
      this.list.firstElementChild.remove();
      this.dropped++;
    }
    this.empty.hidden = true;
    if (this.dropped) {
      this.droppedNote.hidden = false;
      this.droppedNote.textContent = `${this.dropped} earlier entries are not shown (the view keeps the last ${MAX_ITEMS}); the Raw tab and "jump to" have everything.`;
    }
    if (atBottom) this.container.scrollTop = this.container.scrollHeight;
  }

  dispose() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.pending = [];
  }
}
