// Task lists and their progress. A list is the jobs that share the label `task_list`, else an MCP run
// (`mcp_run` label, docs/mcp.md), else a queue (`cc-executor tasks run --detach` puts a list in one queue),
// else a concurrency group. Jobs outside all four are only counted.

import { FINAL_STATES, LIVE_STATES, clear, el, fmtAgo } from "./charts_common.js";

const KEEP_SECONDS = 24 * 3600; // a list all of whose jobs ended longer ago than this is left out
const MAX_LISTS = 30;
const ORDER = ["completed", "failed", "timed_out", "lost", "cancelled", "running", "paused", "queued"];

export function listKey(job) {
  const labels = job.labels || {};
  if (labels.task_list) return { key: `task_list:${labels.task_list}`, kind: "task list", name: labels.task_list };
  if (labels.mcp_run) return { key: `mcp_run:${labels.mcp_run}`, kind: "MCP run", name: labels.mcp_run };
  if (job.queue) return { key: `queue:${job.queue}`, kind: "queue", name: job.queue };
  if (job.group) return { key: `group:${job.group}`, kind: "group", name: job.group };
  return null;
}

// jobs (iterable of summaries) → {lists: [{key, kind, name, total, done, counts, last, live}], outside}
export function taskLists(jobs, now = Date.now() / 1000) {
  const lists = new Map();
  let outside = 0;
  for (const job of jobs) {
    const which = listKey(job);
    if (!which) {
      outside += 1;
      continue;
    }
    let list = lists.get(which.key);
    if (!list) {
      list = { ...which, total: 0, done: 0, live: 0, counts: {}, last: 0 };
      lists.set(which.key, list);
    }
    list.total += 1;
    list.counts[job.state] = (list.counts[job.state] || 0) + 1;
    if (FINAL_STATES.has(job.state)) list.done += 1;
    if (LIVE_STATES.has(job.state)) list.live += 1;
    list.last = Math.max(list.last, job.ended_at || job.started_at || job.created_at || 0);
  }
  const kept = [...lists.values()]
    .filter((l) => l.live > 0 || now - l.last < KEEP_SECONDS)
    .sort((a, b) => (b.live > 0) - (a.live > 0) || b.last - a.last)
    .slice(0, MAX_LISTS);
  return { lists: kept, outside };
}

function segmentClass(state) {
  if (state === "completed") return "seg-completed";
  if (state === "failed" || state === "timed_out" || state === "timeout" || state === "lost") return "seg-failed";
  if (state === "cancelled") return "seg-cancelled";
  if (state === "running") return "seg-running";
  return "seg-waiting";
}

export function renderTaskLists(container, jobs) {
  const { lists, outside } = taskLists(jobs);
  clear(container);
  if (!lists.length) {
    container.append(el("p", { class: "hint" }, "No task lists: jobs with a task_list label, an MCP run, a queue or a group show here."));
  }
  for (const list of lists) {
    const bar = el("div", {
      class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(list.total),
      "aria-valuenow": String(list.done), "aria-label": `${list.done} of ${list.total} done`,
    });
    const states = Object.keys(list.counts).sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b));
    for (const state of states) {
      const seg = el("span", { class: `seg ${segmentClass(state)}`, title: `${state}: ${list.counts[state]}` });
      seg.style.width = `${(list.counts[state] / list.total) * 100}%`; // CSSOM, allowed under the CSP
      bar.append(seg);
    }
    const counts = states.map((s) => `${list.counts[s]} ${s}`).join(" · ");
    container.append(el("div", { class: "task-list", dataset: { list: list.key } },
      el("div", { class: "task-list-head" },
        el("span", { class: "task-list-kind" }, list.kind), " ",
        el("strong", {}, list.name), " ",
        el("span", { class: "task-list-done", dataset: { done: String(list.done), total: String(list.total) } }, `${list.done}/${list.total} done`),
        " ", el("span", { class: "hint" }, `last activity ${fmtAgo(list.last)}`)),
      bar,
      el("div", { class: "task-list-counts" }, counts)));
  }
  if (outside) container.append(el("p", { class: "hint" }, `${outside} other job(s) belong to no list.`));
}
