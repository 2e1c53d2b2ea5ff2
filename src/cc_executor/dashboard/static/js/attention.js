// Attention view (#/attention): what needs a person now — permission requests to answer, stalled jobs,
// rate-limited or budget-stopped jobs, held usage windows, and jobs that failed, timed out or were lost in the
// last 24 hours (dismissable for this tab). Live: jobs.watch + jobs.changed; permission.list is read again when
// a job's log changes or a permission.request / permission.resolved arrives; /health (usage windows) every 15 s
// and after changes. Items are keyed and only rebuilt when what they show changed, so an Allow button is never
// swapped out under the pointer.

import {
  FINAL_STATES,
  clear,
  errorList,
  commandEl,
  el,
  fetchHealth,
  fmtAgo,
  fmtClock,
  fmtSeconds,
  jobFeed,
  jobLink,
  throttle,
} from "./charts_common.js";
import { classifyJob, isExpired } from "./attention_rules.js";

const DISMISS_KEY = "cc-executor.attention.dismissed";
const RECENT_SECONDS = 24 * 3600;

const SECTIONS = [
  { id: "permission", title: "Permission requests", hint: "an agent waits for your answer" },
  { id: "stalled", title: "Stalled", hint: "no output for longer than their idle timeout" },
  { id: "limited", title: "Rate-limited or budget-stopped", hint: "API limits, usage limits and budget caps" },
  { id: "window", title: "Usage windows held", hint: "agent jobs of these accounts wait until the window opens" },
  { id: "ended", title: "Failed, timed out or lost", hint: "last 24 hours; dismiss what you have seen" },
];

function loadDismissed() {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(DISMISS_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

function saveDismissed(set) {
  // Keep the newest 1,000 ids: enough for a day of failures, small in session storage.
  sessionStorage.setItem(DISMISS_KEY, JSON.stringify([...set].slice(-1000)));
}

export function mount(root, ctx) {
  const rpc = ctx.rpc;
  let jobs = new Map();
  let permissions = [];
  let windows = [];
  let dismissed = loadDismissed();
  const answering = new Map(); // request_id → "allow" | "deny" while the answer is on its way
  let alive = true;

  const view = el("div", { id: "attention", class: "view view-attention", "aria-live": "polite" });
  const { box: errorBox, set: setError } = errorList();
  const summary = el("p", { class: "attention-summary", id: "attention-summary" });
  const empty = el("p", { class: "attention-empty", id: "attention-empty", hidden: true }, "Nothing needs attention right now.");
  const restore = el("button", { type: "button", class: "link-button", hidden: true, "data-action": "undismiss" });
  restore.addEventListener("click", () => {
    dismissed = new Set();
    saveDismissed(dismissed);
    render();
  });
  const sections = new Map();
  view.append(el("h2", {}, "Needs attention"), errorBox, summary, empty);
  for (const s of SECTIONS) {
    const count = el("span", { class: "count" });
    const list = el("ul", { class: "attention-list", "data-section": s.id });
    const box = el("section", { class: `attention-section attention-${s.id}`, "data-section": s.id, hidden: true },
      el("h3", {}, s.title, " ", count), el("p", { class: "hint" }, s.hint), list);
    sections.set(s.id, { box, list, count, nodes: new Map() });
    view.append(box);
  }
  view.append(el("p", { class: "attention-footer" }, restore));
  clear(root);
  root.append(view);


  // -- items ------------------------------------------------------------------------------------

  function permissionItem(req) {
    const job = jobs.get(req.job_id);
    const state = answering.get(req.request_id);
    const li = el("li", {
      class: "attention-item kind-permission",
      dataset: { jobId: req.job_id, requestId: req.request_id, kind: "permission" },
    });
    const input = typeof req.input === "string" ? req.input : JSON.stringify(req.input ?? {}, null, 2);
    const allow = el("button", { type: "button", class: "allow", "data-action": "allow", disabled: Boolean(state) }, "Allow");
    const deny = el("button", { type: "button", class: "deny", "data-action": "deny", disabled: Boolean(state) }, "Deny");
    const status = el("span", { class: "answer-status" }, state ? `sending ${state}…` : "");
    allow.addEventListener("click", () => answer(req, "allow", status, allow, deny));
    deny.addEventListener("click", () => answer(req, "deny", status, allow, deny));
    li.append(
      el("div", { class: "why" }, el("span", { class: "badge badge-permission" }, "permission"), " ",
        `the agent asks to use ${req.tool_name || "a tool"}`),
      el("pre", { class: "tool-input" }, input.length > 2000 ? `${input.slice(0, 1999)}…` : input),
      job ? commandEl(job.command) : null,
      el("div", { class: "meta" }, "job ", jobLink(req.job_id), " · asked ",
        el("time", { dataset: { epoch: String(req.asked_at || "") }, title: fmtClock(req.asked_at) }, fmtAgo(req.asked_at)),
        req.expires_at ? " · denied by default " : "",
        req.expires_at ? el("time", { dataset: { epoch: String(req.expires_at) }, title: fmtClock(req.expires_at) }, fmtAgo(req.expires_at)) : null,
        req.via ? ` · via ${req.via}` : ""),
      el("div", { class: "actions" }, allow, deny, status),
    );
    return li;
  }

  async function answer(req, behavior, status, ...buttons) {
    answering.set(req.request_id, behavior);
    for (const b of buttons) b.disabled = true;
    status.textContent = `sending ${behavior}…`;
    try {
      await rpc.call("permission.respond", { request_id: req.request_id, behavior });
      status.textContent = behavior === "allow" ? "allowed" : "denied";
      permissions = permissions.filter((p) => p.request_id !== req.request_id);
      setError("permission.respond", null);
    } catch (err) {
      // -32003: answered meanwhile (elsewhere, or it timed out): the list below says what is left.
      status.textContent = `not sent: ${err.message || err}`;
      for (const b of buttons) b.disabled = false;
    } finally {
      answering.delete(req.request_id);
      refreshPermissions();
    }
  }

  function jobItem(job, verdict) {
    const li = el("li", {
      class: `attention-item kind-${verdict.kind}`,
      dataset: { jobId: job.job_id, kind: verdict.kind, state: job.state || "" },
    });
    const when = verdict.when;
    const meta = el("div", { class: "meta" }, "job ", jobLink(job.job_id), ` · ${job.state} · ${verdict.whenLabel} `,
      el("time", { dataset: { epoch: String(when || "") }, title: fmtClock(when) }, fmtAgo(when)));
    if (job.group) meta.append(` · group ${job.group}`);
    if (job.queue) meta.append(` · queue ${job.queue}`);
    if (job.duration) meta.append(` · ran ${fmtSeconds(job.duration)}`);
    li.append(
      el("div", { class: "why" }, el("span", { class: `badge badge-${verdict.kind}` }, verdict.badge), " ",
        el("span", { class: "reason" }, verdict.why)),
      commandEl(job.command),
      meta,
    );
    if (FINAL_STATES.has(job.state)) {
      const dismiss = el("button", { type: "button", class: "dismiss link-button", "data-action": "dismiss" }, "Dismiss");
      dismiss.addEventListener("click", () => {
        dismissed.add(job.job_id);
        saveDismissed(dismissed);
        render();
      });
      li.append(el("div", { class: "actions" }, dismiss));
    }
    return li;
  }

  function windowItem(w) {
    const li = el("li", { class: "attention-item kind-window", dataset: { account: w.account, kind: "window" } });
    li.append(
      el("div", { class: "why" }, el("span", { class: "badge badge-window" }, "usage window"), " ",
        `account "${w.account}" is out of usage until ${fmtClock(w.closed_until)} (`,
        el("time", { dataset: { epoch: String(w.closed_until) } }, fmtAgo(w.closed_until)),
        "); its agent jobs wait, queued"),
      w.message ? el("p", { class: "reason" }, w.message) : null,
      w.limited_job ? el("div", { class: "meta" }, "hit by job ", jobLink(w.limited_job), " · since ",
        el("time", { dataset: { epoch: String(w.since || "") } }, fmtAgo(w.since))) : null,
    );
    return li;
  }

  // -- render -------------------------------------------------------------------------------------

  // Reconcile one list: reuse nodes whose signature is unchanged, keep the order given.
  function reconcile(section, items) {
    const next = new Map();
    const order = [];
    for (const item of items) {
      const known = section.nodes.get(item.key);
      const node = known && known.sig === item.sig ? known.node : item.build();
      next.set(item.key, { sig: item.sig, node });
      order.push(node);
    }
    section.nodes = next;
    const current = [...section.list.children];
    if (current.length !== order.length || current.some((n, i) => n !== order[i])) {
      clear(section.list);
      section.list.append(...order);
    }
    section.count.textContent = items.length ? `(${items.length})` : "";
    section.box.hidden = items.length === 0;
    return items.length;
  }

  function render() {
    if (!alive) return;
    const now = Date.now() / 1000;
    const buckets = { permission: [], stalled: [], limited: [], window: [], ended: [] };
    let hidden = 0;
    for (const req of permissions) {
      if (isExpired(req, now)) continue;
      buckets.permission.push({
        key: `perm:${req.request_id}`,
        sig: `${answering.get(req.request_id) || ""}|${jobs.has(req.job_id)}`,
        build: () => permissionItem(req),
      });
    }
    const verdicts = [];
    for (const job of jobs.values()) {
      const verdict = classifyJob(job, now, RECENT_SECONDS);
      if (!verdict) continue;
      if (FINAL_STATES.has(job.state) && dismissed.has(job.job_id)) {
        hidden += 1;
        continue;
      }
      verdicts.push([job, verdict]);
    }
    verdicts.sort((a, b) => (b[1].when || 0) - (a[1].when || 0)); // newest first
    for (const [job, verdict] of verdicts) {
      buckets[verdict.section].push({
        key: `job:${job.job_id}`,
        sig: [verdict.kind, verdict.why, job.state, job.command, job.group, job.queue, job.duration && Math.round(job.duration), verdict.when].join("|"),
        build: () => jobItem(job, verdict),
      });
    }
    for (const w of windows) {
      if (w.closed_until && w.closed_until < now) continue;
      buckets.window.push({ key: `win:${w.account}`, sig: JSON.stringify(w), build: () => windowItem(w) });
    }
    let total = 0;
    for (const s of SECTIONS) total += reconcile(sections.get(s.id), buckets[s.id]);
    empty.hidden = total !== 0;
    summary.textContent = total ? `${total} item${total === 1 ? "" : "s"} need${total === 1 ? "s" : ""} attention.` : "";
    view.dataset.count = String(total);
    restore.hidden = hidden === 0;
    restore.textContent = `Show ${hidden} dismissed`;
  }
  const renderSoon = throttle(render, 250);

  // -- data ---------------------------------------------------------------------------------------

  let permissionsInFlight = false;
  let permissionsAgain = false;
  async function refreshPermissions() {
    if (permissionsInFlight) {
      permissionsAgain = true;
      return;
    }
    permissionsInFlight = true;
    try {
      const result = await rpc.call("permission.list", {});
      permissions = Array.isArray(result) ? result : (result && result.requests) || [];
      setError("permission.list", null);
    } catch (err) {
      if (alive) setError("permission.list", err);
    } finally {
      permissionsInFlight = false;
      if (alive) renderSoon();
      if (permissionsAgain && alive) {
        permissionsAgain = false;
        refreshPermissions();
      }
    }
  }
  const refreshPermissionsSoon = throttle(refreshPermissions, 500);

  async function refreshHealth() {
    try {
      const health = await fetchHealth();
      windows = Array.isArray(health.usage_windows) ? health.usage_windows : [];
      setError("/health", null);
    } catch (err) {
      if (alive) setError("/health", err);
    }
    if (alive) renderSoon();
  }
  const refreshHealthSoon = throttle(refreshHealth, 2000);

  const stopFeed = jobFeed(
    rpc,
    (map, changed) => {
      jobs = map;
      setError("jobs.watch", null);
      renderSoon();
      if (changed) {
        // jobs.changed comes when any job's log gets an event: a permission request is one of them.
        refreshPermissionsSoon();
        refreshHealthSoon();
      }
    },
    { onError: (err) => setError("jobs.watch", err) },
  );
  const offs = [
    rpc.on("permission.request", () => refreshPermissionsSoon()),
    rpc.on("permission.resolved", () => refreshPermissionsSoon()),
  ];
  refreshPermissions();
  refreshHealth();
  const healthTimer = setInterval(refreshHealth, 15000);
  // Relative times ("3 min ago") move on without rebuilding items; expired requests and opened windows leave.
  const ticker = setInterval(() => {
    const now = Date.now() / 1000;
    for (const t of view.querySelectorAll("time[data-epoch]")) {
      const epoch = Number(t.dataset.epoch);
      if (epoch) t.textContent = fmtAgo(epoch, now);
    }
    renderSoon();
  }, 1000);

  render();
  return () => {
    alive = false;
    stopFeed();
    for (const off of offs) off();
    clearInterval(healthTimer);
    clearInterval(ticker);
    renderSoon.cancel();
    refreshPermissionsSoon.cancel();
    refreshHealthSoon.cancel();
    view.remove();
  };
}
