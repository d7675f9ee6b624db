// The ops view: an admin key, then the gateway as operators see it (the admin API):
// tenants' spend against budget and rate use, queue, failures, vendor health, cache
// savings, and the last hour as charts. Refreshed every few seconds while shown.

import { call } from "./api.js";
import { increases, lineChart } from "./charts.js";
import { fill, h, table } from "./dom.js";
import { clock, percent, seconds, usd, windowUse } from "./format.js";
import { keyForm } from "./keyform.js";

const REFRESH_MS = 5000;
const USAGE_DAYS = 7;
const RECENT_FAILURES = 10;

function failedJobsTable(jobs) {
  return table("Recent failed jobs", ["Finished", "Tenant", "Model", "Code", "Message"],
    jobs.map((job) => [
      clock(job.finishedAt), job.tenant, job.model, h("code", {}, job.error ? job.error.code : "—"),
      job.error ? job.error.message : "",
    ]), "No failed jobs.");
}

function usageSince() {
  return new Date(Date.now() - (USAGE_DAYS - 1) * 86400e3).toISOString().slice(0, 10);
}

function count(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function usageSection(usage) {
  const rows = [...usage.records].reverse().map((r) => [
    r.day, r.tenant, r.model, r.backend, String(r.jobs), String(r.images),
    usd(r.chargedUsd), usd(r.savedUsd),
  ]);
  const totals = usage.totals;
  return h("section", { "aria-labelledby": "ops-usage" },
    h("h3", { id: "ops-usage" }, `Usage since ${usage.since} (all processes)`),
    h("p", { "data-testid": "usage-totals" },
      `${count(totals.jobs, "job")}, ${count(totals.images, "image")}, `
      + `${usd(totals.chargedUsd)} charged, ${usd(totals.savedUsd)} saved by `
      + `${count(totals.savedJobs, "cached or joined job")}`),
    table("Usage records", ["Day", "Tenant", "Model", "Backend", "Jobs", "Images", "Charged",
      "Saved"], rows, "No usage yet."));
}

function tile(name, value, testId, detail = null) {
  return h("div", { class: "tile" }, h("dt", {}, name),
    h("dd", { "data-testid": testId }, value), detail ? h("dd", { class: "detail" }, detail) : null);
}

function counts(map) {
  return Object.entries(map || {}).sort((a, b) => b[1] - a[1]);
}

function spendCell(tenant) {
  const budget = tenant.budget;
  if (!budget) return "no budget";
  const limit = Number(budget.limit);
  return h("div", { class: "spend" },
    h("meter", { min: "0", max: String(limit), value: budget.spent, high: String(limit * 0.8),
      "aria-label": `${tenant.name} spend against budget` }),
    h("span", { "data-testid": `spend-${tenant.name}` },
      `${usd(budget.spent)} of ${usd(budget.limit)}`));
}

function rateCell(windows) {
  if (!windows) return "no limit";
  return h("ul", { class: "plain" }, windows.map((w) => h("li", {}, windowUse(w))));
}

function tenantsTable(tenants) {
  return table("Tenants", ["Tenant", "Plan", "Spend / budget", "Submits", "Active jobs"],
    tenants.map((t) => [
      t.name, t.plan, spendCell(t), rateCell(t.rateWindows.submit),
      t.limits.maxConcurrent ? `${t.activeJobs} of ${t.limits.maxConcurrent}` : String(t.activeJobs),
    ]), "No tenants configured.");
}

function backendsTable(backends) {
  return table("Vendor health", ["Backend", "Type", "Calls", "Success", "Latency p50 / p90 / p99",
    "Vendor rate", "Last error"],
  backends.map((b) => {
    const recent = b.recent;
    const latency = recent.latencySeconds;
    const lastError = recent.lastErrors[0];
    return [
      b.name, b.type, String(recent.calls), percent(recent.successRate),
      latency ? `${seconds(latency.p50)} / ${seconds(latency.p90)} / ${seconds(latency.p99)}` : "—",
      rateCell(b.rateWindows),
      lastError ? `${clock(lastError.at)} ${lastError.outcome}: ${lastError.message}` : "none",
    ];
  }), "No backends configured.");
}

function charts(history) {
  const samples = history.samples;
  const at = (field) => samples.map((s) => [s.at, s[field] === null ? null : Number(s[field])]);
  const tenants = [...new Set(samples.flatMap((s) => Object.keys(s.budgetSpent || {})))];
  const spend = tenants.map((name) => ({
    name,
    points: samples.map((s) => [s.at, s.budgetSpent ? Number(s.budgetSpent[name] ?? 0) : null]),
  }));
  return h("div", { class: "charts" },
    lineChart("Jobs submitted per interval",
      [{ name: "submitted", points: increases(at("jobsSubmitted")) },
        { name: "cached or joined", points: increases(at("jobsReused")) },
        { name: "failed", points: increases(at("jobsFailed")) }], String),
    lineChart("Queue depth", [{ name: "queued", points: at("queueDepth") }], String),
    lineChart("USD charged (since start)", [{ name: "charged", points: at("chargedUsd") },
      { name: "saved", points: at("savedUsd") }], (v) => `$${v.toFixed(2)}`),
    lineChart("Budget spent per tenant", spend, (v) => `$${v.toFixed(2)}`));
}

export function ops(root) {
  let key = "";
  let timer = null;
  const alert = h("p", { class: "alert", role: "alert", hidden: true });
  const updated = h("span", { class: "hint", "aria-live": "polite" });
  const auto = h("input", { id: "ops-auto", type: "checkbox", checked: true });
  const body = h("div", { class: "ops-body" });
  const controls = h("div", { class: "row spread", hidden: true },
    h("div", { class: "row" },
      h("button", { type: "button", onclick: () => refresh() }, "Refresh"),
      h("label", { class: "inline" }, auto, " Refresh every 5 s")),
    updated);

  function stop() {
    clearTimeout(timer);
    timer = null;
  }

  function schedule() {
    stop();
    if (auto.checked && key && !root.hidden) timer = setTimeout(refresh, REFRESH_MS);
  }
  auto.addEventListener("change", schedule);

  let generation = 0; // a slow answer must not paint over a newer one

  async function refresh() {
    if (!key) return;
    generation += 1;
    const mine = generation;
    let overview;
    let tenants;
    let backends;
    let history;
    let usage;
    let failed;
    try {
      [overview, tenants, backends, history, usage, failed] = await Promise.all([
        call("/admin/overview", { key }), call("/admin/tenants", { key }),
        call("/admin/backends", { key }), call("/admin/history", { key }),
        call(`/admin/usage?since=${usageSince()}`, { key }),
        call(`/admin/jobs?status=FAILED&limit=${RECENT_FAILURES}`, { key }),
      ]);
    } catch (error) {
      if (mine !== generation) return;
      alert.hidden = false;
      alert.textContent = error.status === 403
        ? "This is a tenant key: the ops view needs an admin key (imagegate keys create --admin)."
        : `${error.code}: ${error.message}`;
      fill(body);
      controls.hidden = true;
      stop();
      return;
    }
    if (mine !== generation) return;
    alert.hidden = true;
    controls.hidden = false;
    render(overview, tenants.tenants, backends.backends, history, usage, failed.jobs);
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    schedule();
  }

  function render(overview, tenants, backends, history, usage, failedJobs) {
    const submitted = Object.values(overview.jobsSubmitted).reduce((a, b) => a + b, 0);
    const refusals = Object.values(overview.refusalsByReason).reduce((a, b) => a + b, 0);
    fill(body,
      h("section", { "aria-labelledby": "ops-now" }, h("h3", { id: "ops-now" }, "Now"),
        h("dl", { class: "tiles" },
          tile("Queue depth", String(overview.queue.depth), "queue-depth",
            `oldest waiting ${seconds(overview.queue.oldestAgeSeconds)}, ` +
            `${overview.queue.deferred} deferred`),
          tile("Workers busy", `${overview.workers.busy} of ${overview.workers.total}`,
            "workers"),
          tile("Cache hit ratio", percent(overview.cacheHitRatio), "cache-hit-ratio",
            `${count(submitted, "job")} submitted`),
          tile("Money saved", usd(overview.savedUsd), "saved-usd", "by the cache and joins"),
          tile("Charged", usd(overview.chargedUsd), "charged-usd", "since this process started"),
          tile("Refusals", String(refusals), "refusals"))),
      h("section", { "aria-labelledby": "ops-tenants" },
        h("h3", { id: "ops-tenants" }, "Tenants"), tenantsTable(tenants)),
      h("section", { "aria-labelledby": "ops-failures", class: "split" },
        h("h3", { id: "ops-failures" }, "Failures and refusals"),
        h("p", { class: "hint wide" }, "Counts since this process started; the list below "
          + "holds the latest failed jobs of every process."),
        table("Failed jobs by code", ["Code", "Jobs"],
          counts(overview.failuresByCode).map(([code, n]) => [h("code", {}, code), String(n)]),
          "No failed jobs."),
        table("Refusals by reason", ["Reason", "Requests"],
          counts(overview.refusalsByReason).map(([code, n]) => [h("code", {}, code), String(n)]),
          "No refusals."),
        h("div", { class: "wide" }, h("h4", {}, "Recent failed jobs (all processes)"),
          failedJobsTable(failedJobs))),
      h("section", { "aria-labelledby": "ops-vendors" },
        h("h3", { id: "ops-vendors" }, "Vendors"), backendsTable(backends)),
      h("section", { "aria-labelledby": "ops-charts" },
        h("h3", { id: "ops-charts" }, "The last hour"), charts(history)),
      usageSection(usage));
  }

  function useKey(newKey) {
    key = newKey;
    refresh();
  }

  function forget() {
    key = "";
    generation += 1;
    stop();
    fill(body);
    controls.hidden = true;
    alert.hidden = true;
  }

  fill(root,
    h("h2", {}, "Operations"),
    keyForm({ role: "admin", label: "Admin key",
      hint: "An admin key from [admin] keys. It is kept only in this tab's session storage.",
      onKey: useKey, onForget: forget }),
    alert, controls, body);
  return { shown: () => (key ? refresh() : null), hidden: stop };
}
