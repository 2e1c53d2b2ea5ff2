// Which jobs need a person, and why in words. Pure functions of a job summary (docs/protocol.md, "job summary"),
// kept apart from the view so the rules read in one place.

import { fmtSeconds } from "./charts_common.js";

// Reasons the server writes for API and usage limits (docs/agents.md, "Failure", "Usage windows"):
// "api_error: 429 rate_limit", "api_error: 529 overloaded", "usage_limit: account 'default' is out of usage …".
const LIMIT_RE = /rate.?limit|api_error:\s*(429|529)|usage.?limit|overloaded|\b429\b/i;
// Budget stops: "budget: max_cost_usd 0.01 crossed: …", "budget group 'nightly': …".
const BUDGET_RE = /^budget\b/i;
const STALL_RE = /^stalled\b/i;

function limitStatus(agent) {
  if (!agent) return null;
  const status = agent.api_error_status;
  if (status === 429 || status === 529) return `API error ${status}${agent.api_error_type ? ` ${agent.api_error_type}` : ""}`;
  return null;
}

// A live agent retrying against a limit: Claude Code's api_retry events, as the observer keeps the last one.
function retrying(agent) {
  const last = agent && agent.last_retry;
  if (!last || typeof last !== "object") return null;
  const status = last.error_status ?? last.status;
  if (status !== 429 && status !== 529 && !LIMIT_RE.test(String(last.error || ""))) return null;
  const times = agent.api_retries || 1;
  return `rate-limited: API error ${status ?? ""} ${last.error || ""}`.replace(/\s+/g, " ").trim() + `; the agent retried ${times} time${times === 1 ? "" : "s"} so far`;
}

// → {section, kind, badge, why, when, whenLabel} or null when the job needs nobody.
export function classifyJob(job, now, recentSeconds) {
  const state = job.state;
  const reason = String(job.reason || job.failure_reason || "").trim();
  const agent = job.agent || null;

  if (state === "running" || state === "paused" || state === "queued") {
    const retry = retrying(agent);
    if (retry) return { section: "limited", kind: "rate-limited", badge: "rate-limited", why: retry, when: job.started_at || job.created_at, whenLabel: "started" };
    if (job.stalled && state === "running") {
      const idle = job.idle_timeout ? `no output for ${fmtSeconds(job.idle_timeout)} or more` : "no output for a while";
      const count = job.stall_count > 1 ? `; stalled ${job.stall_count} times` : "";
      const policy = job.on_stall === "cancel" ? `; it will be cancelled after ${job.max_stalls || 1} stall(s) in a row` : "; it runs on until its timeout";
      return { section: "stalled", kind: "stalled", badge: "stalled", why: `stalled: ${idle}${count}${policy}`, when: job.started_at || job.created_at, whenLabel: "started" };
    }
    return null;
  }

  const ended = job.ended_at || job.created_at || 0;
  if (now - ended > recentSeconds) return null;
  const base = { when: ended, whenLabel: "ended" };

  if (BUDGET_RE.test(reason)) return { ...base, section: "limited", kind: "budget", badge: "budget", why: reason };
  const limit = LIMIT_RE.test(reason) ? reason : limitStatus(agent);
  if (limit && state !== "completed") return { ...base, section: "limited", kind: "rate-limited", badge: "rate-limited", why: limit };

  if (state === "failed") {
    const how = job.signal ? `ended by ${job.signal}` : job.exit_code !== null && job.exit_code !== undefined ? `exit code ${job.exit_code}` : "did not start or failed";
    return { ...base, section: "ended", kind: "failed", badge: "failed", why: reason ? `failed (${how}): ${reason}` : `failed: ${how}` };
  }
  if (state === "timed_out" || state === "timeout") {
    const why = reason || (job.timeout ? `timed out after ${fmtSeconds(job.timeout)}` : "timed out");
    return { ...base, section: "ended", kind: "timed-out", badge: "timed out", why };
  }
  if (state === "lost") {
    return { ...base, section: "ended", kind: "lost", badge: "lost", why: reason || "lost: it was running when the server stopped; its end is unknown" };
  }
  if (state === "cancelled" && STALL_RE.test(reason)) {
    return { ...base, section: "ended", kind: "stalled", badge: "stalled", why: reason };
  }
  return null; // completed, or cancelled by someone: nothing to do
}

export function isExpired(request, now) {
  return Boolean(request.expires_at) && request.expires_at < now - 1;
}
