// One job: its header (command, state, exit, timings, timeout basis), controls (pause, resume, cancel,
// signal, stdin), its output in xterm.js (replayed from seq 0 by `attach`, then live), and for Claude Code
// stream-json runs the agent summary and a readable view of its turns.
//
// Output is counted by seq: every event with seq < nextSeq has been handled, so a reconnect re-attaches from
// nextSeq (nothing lost, nothing twice) and "jump to seq N" is a detach, a clear and an attach from N.

import { AgentView } from "./agent_view.js";
import { bytes, cost, duration, el, isLive, labelsText, setBadge, setText, time } from "./format.js";
import { KEEP_AFTER_DROP, MAX_BACKLOG, OutputTerminal } from "./job_terminal.js";

const SIGNALS = ["TERM", "INT", "HUP", "KILL", "USR1", "USR2", "QUIT"];
const STDERR_ON = "\x1b[31m"; // stderr is written in red, so it stays apart from stdout in one terminal
const SGR_RESET = "\x1b[0m";
const LIVE_REFRESH_MS = 2000; // the header's summary (output bytes, agent cost) while the job runs
// Following a job that prints faster than this tab can take it in, the output waiting for the page (on the
// server and the wire, where the terminal's own drop cannot reach) grows; past this many characters the page
// skips ahead to near the tail (a detach and an attach from a later seq), as the terminal does with its queue.
const MAX_LAG = 2 * MAX_BACKLOG;
const LIFECYCLE = [
  "process.started",
  "process.queued",
  "process.paused",
  "process.resumed",
  "process.stalled",
  "process.completed",
  "process.cancelled",
  "process.timeout_extended",
  "agents.window",
];

export function mount(root, ctx) {
  const jobId = ctx.params[0] || "";
  let summary = null;
  let nextSeq = 0; // one past the last output event handled
  let viewStart = 0; // the seq this view's output starts at (0, or a jump)
  let attached = false;
  let accepting = false; // output events are ignored while a jump swaps the stream
  let ended = false;
  let agentMode = false;
  let streamFilter = "both";
  let refreshTimer = 0;
  let refreshing = null;
  let completed = null; // the process.completed params, once seen
  const offs = [];
  const counters = { events: 0, stdout: 0, stderr: 0, chars: 0 };

  // ---- the page ---------------------------------------------------------------------------------------
  const badge = el("span", { id: "job-state" });
  const command = el("code", { id: "job-command", className: "command" });
  const message = el("p", { id: "job-message", className: "message", role: "status" });
  const facts = el("dl", { id: "job-facts", className: "facts" });

  const btn = (action, label, title) => el("button", { type: "button", dataset: { action }, title, disabled: true }, label);
  const pauseBtn = btn("pause", "Pause", "SIGSTOP the whole process tree (time paused does not count toward the timeout)");
  const resumeBtn = btn("resume", "Resume", "SIGCONT the process tree");
  const cancelBtn = btn("cancel", "Cancel", "Stop the job: SIGTERM, then SIGKILL after the grace period");
  const signalSelect = el("select", { id: "signal-name", title: "Signal to send to the process tree" });
  for (const s of SIGNALS) signalSelect.append(el("option", { value: s }, `SIG${s}`));
  const signalBtn = btn("signal", "Send signal", "Send the chosen signal to the whole process tree");
  const controls = el("div", { className: "controls" }, pauseBtn, resumeBtn, cancelBtn, signalSelect, signalBtn);

  const stdinInput = el("input", { id: "stdin", type: "text", placeholder: "A line for the job's stdin", spellcheck: false, autocomplete: "off" });
  const stdinSend = el("button", { type: "button", dataset: { action: "stdin" } }, "Send");
  const stdinEof = el("button", { type: "button", dataset: { action: "eof" }, title: "Close the job's stdin" }, "EOF");
  const stdinRow = el("form", { id: "stdin-form", className: "stdin", hidden: true }, el("label", { htmlFor: "stdin" }, "stdin"), stdinInput, stdinSend, stdinEof);

  const agentPanel = el("dl", { id: "agent-summary", className: "facts agent-summary", hidden: true });

  const tabRaw = el("button", { type: "button", className: "tab", dataset: { tab: "raw" }, attrs: { "aria-selected": "true" } }, "Raw");
  const tabAgent = el("button", { type: "button", className: "tab", dataset: { tab: "agent" }, hidden: true, attrs: { "aria-selected": "false" } }, "Agent");
  const streamSelect = el("select", { id: "stream-filter", title: "Which of the job's streams to show" },
    el("option", { value: "both" }, "stdout + stderr"), el("option", { value: "stdout" }, "stdout only"), el("option", { value: "stderr" }, "stderr only"));
  const followBox = el("input", { id: "follow", type: "checkbox", checked: true });
  const followLabel = el("label", { className: "check", title: "Keep the newest output in view" }, followBox, " follow");
  const startBtn = el("button", { type: "button", dataset: { action: "jump-start" }, title: "Clear and replay the whole output from seq 0" }, "Jump to start");
  const seqInput = el("input", { id: "jump-seq", type: "number", min: "0", step: "1", placeholder: "seq", className: "seq" });
  const seqBtn = el("button", { type: "button", dataset: { action: "jump-seq" }, title: "Clear and replay from that output seq" }, "Jump to seq");
  const searchInput = el("input", { id: "output-search", type: "search", placeholder: "Search output", spellcheck: false, autocomplete: "off" });
  const searchPrev = el("button", { type: "button", dataset: { action: "search-prev" }, title: "Previous match" }, "\u2191");
  const searchNext = el("button", { type: "button", dataset: { action: "search-next" }, title: "Next match" }, "\u2193");
  const outputStatus = el("span", { id: "output-status", className: "muted", role: "status" });
  const skipBanner = el("div", { id: "skip-banner", className: "banner", hidden: true });
  const toolbar = el("div", { className: "toolbar output-toolbar" },
    el("span", { className: "tabs" }, tabRaw, tabAgent), streamSelect, followLabel, startBtn, seqInput, seqBtn,
    searchInput, searchPrev, searchNext, outputStatus);
  const output = el("div", { id: "output", className: "terminal" });
  const agentBox = el("div", { id: "agent-view", className: "agent-view", hidden: true });

  const page = el("section", { id: "job", dataset: { jobId } },
    el("div", { className: "job-head" },
      el("a", { href: "#/jobs", className: "back" }, "\u2190 Jobs"), badge, command),
    message, facts, controls, stdinRow, agentPanel, toolbar, skipBanner, output, agentBox);
  root.append(page);
  setBadge(badge, "loading");
  setText(command, jobId);

  // ---- output -----------------------------------------------------------------------------------------
  const terminal = new OutputTerminal(output, {
    onSkip: (skip, stats) => {
      skipBanner.hidden = false;
      skipBanner.replaceChildren(
        el("span", {}, `Output came faster than this tab can show: ${stats.skippedEvents} output events (${bytes(stats.skippedChars)}) skipped so far (last: seq ${skip.fromSeq}\u2013${skip.toSeq}). `),
        el("button", { type: "button", on: { click: () => jump(skip.fromSeq) } }, `Read from seq ${skip.fromSeq}`));
    },
    onDrained: () => renderOutputStatus(),
  });
  const agentView = new AgentView(agentBox, {
    onEvent: () => {
      if (tabAgent.hidden) tabAgent.hidden = false;
    },
  });
  // For tests and devtools: the terminal (its buffer holds what is shown) and the counters.
  window.__ccTerm = terminal.term;
  window.__ccJob = { jobId, terminal, counters, get nextSeq() { return nextSeq; }, lines: () => terminal.lines() };

  function writeOutput(params) {
    const type = params.type === "stderr" ? "stderr" : "stdout";
    const data = params.data || "";
    counters.events++;
    counters[type]++;
    counters.chars += data.length;
    if (type === "stdout") {
      if (!agentMode && counters.stdout === 1 && /^\s*\{"type":/.test(data)) agentMode = true;
      if (agentMode) agentView.feed(data);
    }
    if (streamFilter !== "both" && streamFilter !== type) return;
    terminal.push(type === "stderr" ? STDERR_ON + data + SGR_RESET : data, params.seq);
  }

  offs.push(ctx.rpc.on("process.output", (params) => {
    if (params.job_id !== jobId || !accepting) return;
    const seq = params.seq;
    if (typeof seq === "number") {
      if (seq < nextSeq) return; // seen already (a replay overlapping what came live)
      nextSeq = seq + 1;
    }
    writeOutput(params);
    scheduleStatus();
  }));

  offs.push(ctx.rpc.on("process.error", (params) => {
    if (params.job_id !== jobId || !accepting) return;
    // A part of the log a replay had to skip, output not kept on a full disk, a job that could not start.
    terminal.notice(`${params.error || "error"}: ${params.message || ""}`);
    if (Array.isArray(params.lost_seqs) && params.lost_seqs[1] + 1 > nextSeq) nextSeq = params.lost_seqs[1] + 1;
  }));

  for (const method of LIFECYCLE) {
    offs.push(ctx.rpc.on(method, (params) => {
      if (params.job_id !== jobId) return;
      if (method === "process.completed") completed = params;
      refresh();
    }));
  }
  offs.push(ctx.rpc.on("permission.request", (params) => {
    if (params.job_id !== jobId) return;
    setText(message, `The agent asks to use ${params.tool_name}: answer it in Attention.`);
  }));

  async function attach(fromSeq) {
    accepting = true;
    try {
      const res = await ctx.rpc.call("attach", { job_id: jobId, from_seq: fromSeq });
      attached = true;
      if (res && typeof res.next_seq === "number") window.__ccJob.attachNextSeq = res.next_seq;
    } catch (err) {
      accepting = false;
      setText(message, `Could not follow the output: ${err.message}`);
    }
    renderOutputStatus();
  }

  // Start over from `seq` (0: the whole log): stop the stream, clear, attach again.
  async function jump(seq) {
    if (!Number.isInteger(seq) || seq < 0) return;
    accepting = false;
    if (attached && ctx.rpc.connected) {
      try {
        await ctx.rpc.call("detach", { job_id: jobId });
      } catch {
        // gone with the connection: the attach below (or the reconnect) starts a fresh stream
      }
    }
    attached = false;
    if (ended) return;
    terminal.reset();
    if (seq === 0) agentView.reset();
    skipBanner.hidden = true;
    nextSeq = seq;
    viewStart = seq;
    counters.events = counters.stdout = counters.stderr = counters.chars = 0;
    await attach(seq);
  }

  let statusFrame = 0;
  function scheduleStatus() {
    if (!statusFrame) {
      statusFrame = requestAnimationFrame(() => {
        statusFrame = 0;
        renderOutputStatus();
      });
    }
  }
  function renderOutputStatus() {
    const parts = [];
    if (viewStart > 0) parts.push(`from seq ${viewStart}`);
    parts.push(`seq ${nextSeq}`);
    if (terminal.backlog > 0) parts.push(`${bytes(terminal.backlog)} to draw`);
    if (completed || (summary && !isLive(summary.state))) parts.push("ended");
    else if (attached) parts.push(terminal.follow ? "following" : "live (not following)");
    setText(outputStatus, parts.join(" \u00b7 "));
  }

  // ---- summary ----------------------------------------------------------------------------------------
  function fact(dl, name, value, title) {
    if (value === null || value === undefined || value === "") return;
    dl.append(el("dt", {}, name), el("dd", { title: title || undefined }, String(value)));
  }

  // The summary says where the job's output is (next_seq); what lies between it and our nextSeq is still on its
  // way. Too much of it (by the mean size of the events seen so far) and the page skips to the tail, also once
  // the job has ended (the last summary), so the end is shown soon after it comes.
  async function keepUp(s) {
    if (!attached || !accepting || !terminal.follow || counters.events < 10) return;
    const behind = (s.next_seq ?? 0) - nextSeq;
    const meanChars = counters.chars / counters.events;
    if (behind * meanChars <= MAX_LAG) return;
    const target = Math.max(nextSeq, (s.next_seq ?? 0) - Math.ceil(KEEP_AFTER_DROP / meanChars));
    const skipped = { fromSeq: nextSeq, toSeq: target - 1 };
    accepting = false;
    try {
      await ctx.rpc.call("detach", { job_id: jobId });
    } catch {
      // gone with the connection: the reconnect attaches from nextSeq
    }
    attached = false;
    if (ended) return;
    nextSeq = Math.max(nextSeq, target);
    terminal.skipped(skipped.fromSeq, skipped.toSeq, Math.round((skipped.toSeq - skipped.fromSeq + 1) * meanChars));
    await attach(nextSeq);
  }

  function renderSummary() {
    const s = summary;
    if (!s) return;
    keepUp(s);
    setBadge(badge, s.state);
    setText(command, s.command || "");
    command.title = s.command || "";
    const f = document.createDocumentFragment();
    const dl = el("dl");
    fact(dl, "Job", s.job_id);
    fact(dl, "Exit", s.exit_code !== null && s.exit_code !== undefined ? `${s.exit_code}${s.signal ? ` (${s.signal})` : ""}` : null);
    fact(dl, "Reason", s.reason || s.failure_reason);
    fact(dl, "PID", s.pid);
    fact(dl, "Created", time(s.created_at));
    fact(dl, "Started", s.started_at ? time(s.started_at) : null);
    fact(dl, "Ended", s.ended_at ? time(s.ended_at) : null);
    const elapsed = s.started_at ? (s.ended_at || Date.now() / 1000) - s.started_at : null;
    fact(dl, "Elapsed", elapsed !== null ? duration(elapsed) : null, "wall time, pauses included");
    fact(dl, "Paused", s.paused_seconds ? duration(s.paused_seconds) : null);
    const basis = s.timeout_basis || {};
    fact(dl, "Timeout", s.timeout ? `${duration(s.timeout)} (${s.timeout_source || "?"})` : s.timeout_source ? `none (${s.timeout_source})` : null,
      basis.rule || undefined);
    fact(dl, "Timeout basis", basis.description ? `${basis.description}${basis.extension ? `; +${duration(basis.extension)} once if still working` : ""}` : null);
    fact(dl, "Idle timeout", s.idle_timeout ? `${duration(s.idle_timeout)}${s.stalled ? " \u2014 stalled now" : ""}${s.stall_count ? ` (${s.stall_count} stalls)` : ""}` : null);
    fact(dl, "Output", `${bytes(s.output_bytes ?? 0)} \u00b7 ${s.next_seq ?? 0} events`);
    fact(dl, "Queue / group", [s.group, s.queue].filter(Boolean).join(" / "));
    fact(dl, "Labels", labelsText(s.labels));
    fact(dl, "Interactive", s.interactive ? "yes (stdin below)" : null);
    fact(dl, "Attempt", s.attempt && s.attempt > 1 ? s.attempt : null);
    f.append(...dl.childNodes);
    facts.replaceChildren(f);

    const live = isLive(s.state);
    pauseBtn.disabled = s.state !== "running";
    resumeBtn.disabled = s.state !== "paused";
    cancelBtn.disabled = !live;
    signalBtn.disabled = signalSelect.disabled = !(s.state === "running" || s.state === "paused");
    stdinRow.hidden = !s.interactive;
    for (const c of [stdinInput, stdinSend, stdinEof]) c.disabled = !live;

    const a = s.agent;
    if (a && !agentMode) agentMode = true;
    if (/--output-format[ =]stream-json/.test(s.command || "")) agentMode = true;
    agentPanel.hidden = !a;
    if (a) {
      const adl = el("dl");
      fact(adl, "Model", a.model);
      fact(adl, "Turns", a.num_turns);
      fact(adl, "Cost", a.total_cost_usd !== null && a.total_cost_usd !== undefined ? cost(a.total_cost_usd) : null);
      fact(adl, "Tool uses", a.tool_uses);
      fact(adl, "Tool errors", a.tool_errors);
      fact(adl, "Error", a.is_error ? a.api_error || a.error || a.subtype || "yes" : null);
      fact(adl, "Session", a.session_id);
      fact(adl, "Result", a.result ? (a.result.length > 300 ? a.result.slice(0, 300) + "\u2026" : a.result) : null, a.result || undefined);
      agentPanel.replaceChildren(...adl.childNodes);
    }
    renderOutputStatus();
    // While it runs the header refreshes now and then (output bytes, agent cost); lifecycle events refresh
    // it at once.
    clearTimeout(refreshTimer);
    if (live && !ended) refreshTimer = setTimeout(refresh, LIVE_REFRESH_MS);
  }

  function refresh() {
    if (ended) return refreshing;
    if (refreshing) return refreshing;
    refreshing = ctx.rpc.call("jobs.get", { job_id: jobId }).then((s) => {
      summary = s;
      if (!ended) renderSummary();
    }, (err) => {
      if (ended) return;
      if (err.code === -32003) {
        setBadge(badge, "unknown");
        setText(message, `No job ${jobId} on this server (it may have been pruned).`);
      } else {
        setText(message, `Could not read the job: ${err.message}`);
        clearTimeout(refreshTimer);
        refreshTimer = setTimeout(refresh, LIVE_REFRESH_MS * 2);
      }
    }).finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  // ---- controls ---------------------------------------------------------------------------------------
  async function act(button, method, params, done) {
    button.disabled = true;
    setText(message, "");
    try {
      await ctx.rpc.call(method, params);
      if (done) setText(message, done);
    } catch (err) {
      setText(message, `${method} failed: ${err.message}`);
    }
    refresh();
  }
  pauseBtn.addEventListener("click", () => act(pauseBtn, "control", { job_id: jobId, type: "PAUSE" }, "Paused."));
  resumeBtn.addEventListener("click", () => act(resumeBtn, "control", { job_id: jobId, type: "RESUME" }, "Resumed."));
  cancelBtn.addEventListener("click", () => act(cancelBtn, "control", { job_id: jobId, type: "CANCEL" }, "Cancelling\u2026"));
  signalBtn.addEventListener("click", () => act(signalBtn, "control", { job_id: jobId, type: "SIGNAL", signal: signalSelect.value }, `Sent SIG${signalSelect.value}.`));
  stdinRow.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = stdinInput.value + "\n";
    stdinInput.value = "";
    act(stdinSend, "stdin", { job_id: jobId, data });
  });
  stdinSend.addEventListener("click", () => stdinRow.requestSubmit());
  stdinSend.type = "button";
  stdinEof.addEventListener("click", () => act(stdinEof, "stdin", { job_id: jobId, data: "", eof: true }, "stdin closed."));

  followBox.addEventListener("change", () => {
    terminal.setFollow(followBox.checked);
    renderOutputStatus();
  });
  startBtn.addEventListener("click", () => jump(0));
  seqBtn.addEventListener("click", () => jump(Number.parseInt(seqInput.value, 10)));
  seqInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") jump(Number.parseInt(seqInput.value, 10));
  });
  streamSelect.addEventListener("change", () => {
    streamFilter = streamSelect.value;
    jump(viewStart); // the terminal only holds what was shown: replay with the new filter
  });
  const doSearch = (backwards) => {
    const found = terminal.find(searchInput.value, backwards);
    if (searchInput.value && !found) setText(message, `"${searchInput.value}" is not in the terminal's scrollback.`);
    else setText(message, "");
    if (found && followBox.checked) {
      followBox.checked = false; // stay on the match instead of jumping back to the tail
      terminal.setFollow(false);
    }
  };
  searchInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") doSearch(ev.shiftKey);
    if (ev.key === "Escape") {
      searchInput.value = "";
      terminal.clearSearch();
    }
  });
  searchNext.addEventListener("click", () => doSearch(false));
  searchPrev.addEventListener("click", () => doSearch(true));

  function showTab(name) {
    const agent = name === "agent";
    output.hidden = agent;
    agentBox.hidden = !agent;
    tabRaw.setAttribute("aria-selected", String(!agent));
    tabAgent.setAttribute("aria-selected", String(agent));
    for (const c of [streamSelect, followLabel, searchInput, searchPrev, searchNext]) c.hidden = agent;
    if (!agent) terminal._scheduleFit();
  }
  tabRaw.addEventListener("click", () => showTab("raw"));
  tabAgent.addEventListener("click", () => showTab("agent"));

  // ---- start, reconnect, stop -------------------------------------------------------------------------
  ctx.onReconnect(() => {
    // The server forgot this connection's attach: follow again from the first seq not yet seen.
    attached = false;
    attach(nextSeq);
    refresh();
  });
  refresh().then(() => {
    if (!ended && summary) attach(0);
  });

  return () => {
    ended = true;
    clearTimeout(refreshTimer);
    if (statusFrame) cancelAnimationFrame(statusFrame);
    for (const off of offs) off();
    if (attached && ctx.rpc.connected) ctx.rpc.call("detach", { job_id: jobId }).catch(() => {});
    terminal.dispose();
    agentView.dispose();
    if (window.__ccTerm === terminal.term) {
      window.__ccTerm = null;
      window.__ccJob = null;
    }
  };
}
