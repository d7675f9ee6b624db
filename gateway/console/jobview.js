// One job as the playground shows it: status live, attempts as they happen, then the
// images, cost, attempts and whether the cache or another job answered it.

import { fill, h } from "./dom.js";
import { milliseconds, usd } from "./format.js";

function fact(name, value, testId) {
  return [h("dt", {}, name), h("dd", { "data-testid": testId }, value)];
}

function attemptItem(attempt) {
  const text = `${attempt.backend} · ${attempt.model} · ${attempt.outcome} · ${usd(attempt.cost)}`;
  const took = attempt.durationMs === undefined ? "" : ` · ${milliseconds(attempt.durationMs)}`;
  return h("li", { class: attempt.outcome === "ok" ? "ok" : "failed" }, text + took);
}

function figure(image, index, prompt) {
  const caption = `${image.width}×${image.height} · ${Math.round(image.bytes / 1024)} KB`;
  return h(
    "figure",
    {},
    h("a", { href: image.url, target: "_blank", rel: "noopener noreferrer" },
      h("img", {
        src: image.url,
        alt: `Image ${index + 1} for “${prompt}”`,
        width: image.width,
        height: image.height,
        loading: "lazy",
      })),
    h("figcaption", {}, caption),
  );
}

export class JobView {
  /** `onCancel()` runs when the "Cancel job" button is pressed (shown until the job ends). */
  constructor(jobId, prompt, onCancel) {
    this.prompt = prompt;
    this.cancel = h("button", { type: "button", class: "secondary", onclick: onCancel },
      "Cancel job");
    this.statusPill = h("span", { class: "pill", "data-testid": "job-status" }, "PENDING");
    this.attempts = h("ol", { class: "attempts", "aria-label": "Attempts" });
    this.facts = h("dl", { class: "facts" });
    this.images = h("div", { class: "images" });
    this.error = h("p", { class: "error", hidden: true });
    this.element = h(
      "article",
      { class: "job card", "aria-labelledby": "job-title", "aria-busy": "true" },
      h("h3", { id: "job-title" }, "Job ", h("code", {}, jobId)),
      h("div", { class: "row spread" },
        h("p", { class: "status-line", role: "status", "aria-live": "polite" },
          "Status: ", this.statusPill),
        this.cancel),
      this.facts,
      h("h4", {}, "Attempts"),
      this.attempts,
      this.error,
      this.images,
    );
  }

  status(status) {
    this.statusPill.textContent = status;
    this.statusPill.className = `pill status-${status}`;
  }

  attempt(attempt) {
    this.attempts.append(attemptItem(attempt));
  }

  /** A failed cancel (the job had already ended, say): said beside the job. */
  cancelRefused(message) {
    this.error.hidden = false;
    this.error.textContent = message;
  }

  /** The final job document (GET /images/jobs/{id}). */
  finished(job) {
    this.status(job.status);
    this.cancel.remove();
    this.element.setAttribute("aria-busy", "false");
    fill(
      this.facts,
      fact("Cost", usd(job.cost), "job-cost"),
      fact("Attempts", String(job.attempts), "job-attempts"),
      fact("Cached", job.cached ? "yes" : "no", "job-cached"),
      fact("Joined", job.joined ? "yes" : "no", "job-joined"),
      fact("Backend", job.backend || "—", "job-backend"),
      fact("Took", milliseconds(job.durationMs), "job-duration"),
    );
    fill(this.attempts, (job.attemptLog || []).map(attemptItem));
    if (!job.attemptLog || !job.attemptLog.length) {
      this.attempts.append(h("li", {}, job.cached ? "none: answered from the cache"
        : job.joined ? "none: joined an identical job" : "none"));
    }
    if (job.error) {
      this.error.hidden = false;
      this.error.textContent = `${job.error.code}: ${job.error.message}`;
    }
    fill(this.images, (job.images || []).map((image, i) => figure(image, i, job.prompt)));
  }

  failedToFollow(message) {
    this.cancel.remove();
    this.element.setAttribute("aria-busy", "false");
    this.error.hidden = false;
    this.error.textContent = message;
  }
}
