// The playground: a tenant key, a job form built from GET /images/models, the job's live
// status from GET /images/jobs/{id}/events, and the key's recent jobs.

import { ApiError, call, events } from "./api.js";
import { fill, h, table } from "./dom.js";
import { clock, usd } from "./format.js";
import { JobView } from "./jobview.js";
import { keyForm } from "./keyform.js";
import { recentJobs, remember } from "./recent.js";

const RECONNECTS = 5;

function option(value, text, selected = false) {
  return h("option", { value, selected }, text);
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function playground(root) {
  let key = "";
  let models = [];
  let following = null; // AbortController of the stream being read

  const alert = h("p", { class: "alert", role: "alert", hidden: true });
  const model = h("select", { id: "pg-model", name: "model" });
  const size = h("select", { id: "pg-size", name: "size" });
  const quality = h("select", { id: "pg-quality", name: "quality" });
  const n = h("input", { id: "pg-n", name: "n", type: "number", min: "1", max: "4", value: "1",
    required: true, inputmode: "numeric" });
  const prompt = h("textarea", { id: "pg-prompt", name: "prompt", rows: "3", maxlength: "4000",
    required: true, placeholder: "a lighthouse at dusk, oil painting" });
  const submit = h("button", { type: "submit" }, "Generate");
  const fields = h(
    "fieldset",
    { disabled: true },
    h("legend", {}, "New job"),
    h("div", { class: "grid" },
      h("div", { class: "field" }, h("label", { for: "pg-model" }, "Model"), model),
      h("div", { class: "field" }, h("label", { for: "pg-size" }, "Size"), size),
      h("div", { class: "field" }, h("label", { for: "pg-quality" }, "Quality"), quality),
      h("div", { class: "field" }, h("label", { for: "pg-n" }, "Images (n)"), n)),
    h("div", { class: "field" }, h("label", { for: "pg-prompt" }, "Prompt"), prompt),
    h("div", { class: "row" }, submit),
  );
  const jobForm = h("form", { class: "job-form", "aria-label": "New job" }, fields);
  const result = h("section", { class: "result", "aria-label": "Current job" });
  const recentList = h("div", {});
  const recent = h("section", { class: "card", "aria-labelledby": "recent-title" },
    h("div", { class: "row spread" }, h("h3", { id: "recent-title" }, "Your recent jobs"),
      h("button", { type: "button", class: "secondary", onclick: () => showRecent() }, "Refresh")),
    recentList);

  function showError(error) {
    alert.hidden = false;
    const wait = error.retryAfter ? ` (retry in ${error.retryAfter} s)` : "";
    alert.textContent = `${error.code}: ${error.message}${wait}`;
  }

  function clearError() {
    alert.hidden = true;
    alert.textContent = "";
  }

  function chosenModel() {
    return models.find((m) => m.name === model.value);
  }

  function fillChoices() {
    const chosen = chosenModel();
    if (!chosen) return;
    fill(size, chosen.sizes.map((s) => option(s, s, s === chosen.defaultSize)));
    const qualities = chosen.qualities === null ? ["low", "medium", "high"] : chosen.qualities;
    fill(quality, option("", "default"), qualities.map((q) => option(q, q)));
    quality.disabled = chosen.qualities !== null && chosen.qualities.length === 0;
    n.max = String(chosen.maxN);
    if (Number(n.value) > chosen.maxN) n.value = String(chosen.maxN);
  }
  model.addEventListener("change", fillChoices);

  async function useKey(newKey) {
    key = newKey;
    clearError();
    fields.disabled = true;
    try {
      models = (await call("/images/models", { key })).models;
    } catch (error) {
      showError(error);
      return;
    }
    fill(model, models.map((m) => option(m.name, m.name, m.default)));
    fillChoices();
    fields.disabled = false;
    showRecent();
  }

  function forget() {
    key = "";
    models = [];
    if (following) following.abort();
    fields.disabled = true;
    fill(result);
    fill(recentList);
    clearError();
  }

  async function follow(jobId, view, signal) {
    let lastEventId = null;
    for (let tries = 0; tries <= RECONNECTS; tries += 1) {
      try {
        const path = `/images/jobs/${encodeURIComponent(jobId)}/events`;
        for await (const event of events(path, { key, lastEventId, signal })) {
          lastEventId = event.id || lastEventId;
          const data = JSON.parse(event.data);
          if (event.event === "status") view.status(data.status);
          else if (event.event === "attempt") view.attempt(data);
          else if (event.event === "job") return data;
          else if (event.event === "error") throw new ApiError(503, data.code, data.message);
        }
      } catch (error) {
        if (signal.aborted) return null;
        if (error.status && error.status < 500 && error.status !== 429) throw error;
      }
      await pause(1000); // the stream ended early (a restart, Redis away): resume after it
    }
    return call(`/images/jobs/${encodeURIComponent(jobId)}`, { key, signal });
  }

  async function show(jobId, promptText) {
    if (following) following.abort();
    following = new AbortController();
    const { signal } = following;
    const view = new JobView(jobId, promptText, async () => {
      try {
        // The stream reports the ending (CANCELED); only a refusal needs saying here.
        await call(`/images/jobs/${encodeURIComponent(jobId)}/cancel`, { key, method: "POST" });
      } catch (error) {
        view.cancelRefused(`${error.code}: ${error.message}`);
      }
    });
    fill(result, view.element);
    try {
      const job = await follow(jobId, view, signal);
      if (job) view.finished(job);
    } catch (error) {
      if (!signal.aborted) view.failedToFollow(`${error.code}: ${error.message}`);
    }
    if (!signal.aborted) showRecent();
  }

  jobForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const body = { prompt: prompt.value, model: model.value, size: size.value, n: Number(n.value) };
    if (quality.value) body.quality = quality.value;
    submit.disabled = true;
    try {
      const accepted = await call("/images/jobs", { key, method: "POST", body });
      remember(accepted.jobId);
      show(accepted.jobId, body.prompt);
    } catch (error) {
      showError(error);
    } finally {
      submit.disabled = false;
    }
  });

  let recentReads = 0; // a slow answer must not paint over a newer one

  async function showRecent() {
    if (!key) return;
    recentReads += 1;
    const mine = recentReads;
    let jobs;
    try {
      jobs = await recentJobs(key);
    } catch (error) {
      if (mine === recentReads) {
        fill(recentList, h("p", { class: "error" }, `${error.code}: ${error.message}`));
      }
      return;
    }
    if (mine !== recentReads || !key) return;
    const rows = jobs.map((job) => [
      clock(job.createdAt),
      h("span", { class: `pill status-${job.status}` }, job.status),
      h("span", { class: "prompt" }, job.prompt),
      usd(job.cost),
      job.cached ? "cached" : job.joined ? "joined" : "",
      h("button", { type: "button", class: "link", onclick: () => show(job.id, job.prompt) },
        "Show", h("span", { class: "visually-hidden" }, ` job ${job.id}`)),
    ]);
    fill(recentList, table("Your recent jobs", ["Created", "Status", "Prompt", "Cost", "Reuse", ""],
      rows, "No jobs yet."));
  }

  fill(
    root,
    h("h2", {}, "Playground"),
    keyForm({
      role: "tenant",
      label: "API key",
      hint: "A tenant key (ig_…). It is kept only in this tab's session storage.",
      onKey: useKey,
      onForget: forget,
    }),
    alert,
    jobForm,
    result,
    recent,
  );
}
