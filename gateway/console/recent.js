// The key's recent jobs: the job listing (GET /images/jobs) where the gateway has it, else
// the jobs this tab submitted (their ids kept in session storage, read one by one).

import { call } from "./api.js";

const SUBMITTED = "imagegate.console.submitted";
const LIMIT = 10;
let listing = true; // false once the gateway answered that it has no job listing

function submittedIds() {
  try {
    return JSON.parse(sessionStorage.getItem(SUBMITTED) || "[]");
  } catch {
    return [];
  }
}

/** Note a job this tab submitted (newest first, the last LIMIT kept). */
export function remember(jobId) {
  const ids = [jobId, ...submittedIds().filter((id) => id !== jobId)].slice(0, LIMIT);
  try {
    sessionStorage.setItem(SUBMITTED, JSON.stringify(ids));
  } catch {
    // Not kept: the listing still shows it where the gateway has one.
  }
}

export async function recentJobs(key) {
  if (listing) {
    try {
      const listed = await call(`/images/jobs?limit=${LIMIT}`, { key });
      return listed.jobs;
    } catch (error) {
      if (error.status !== 405 && error.status !== 404) throw error;
      listing = false;
    }
  }
  const found = await Promise.all(
    submittedIds().map((id) =>
      call(`/images/jobs/${encodeURIComponent(id)}`, { key }).catch(() => null)),
  );
  return found.filter(Boolean);
}
