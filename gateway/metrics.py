"""Prometheus collectors for one gateway process, in its own registry (no module globals).

Every part that has something to count receives the `Metrics` object the `Gateway` built
and calls one method per event. Label values are bounded by config: a tenant, model or
backend the running config does not name is counted as "other", and nothing per-job (ids,
prompts) is ever a label. Each process keeps its own counters; Prometheus scrapes every
process and `sum()`s them (README, Operations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway import __version__
from gateway.backend_health import RecentAttempts
from gateway.jobs import Job
from gateway.money.format import usd
from gateway.settings import Settings

__all__ = ["CONTENT_TYPE_LATEST", "OTHER", "Metrics"]

OTHER = "other"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
VENDOR_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


def _sum_by(counter: Counter, label: str) -> dict[str, int | float]:
    """A labelled counter's totals grouped by one label."""
    totals: dict[str, int | float] = {}
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = sample.labels[label]
                value = totals.get(key, 0) + sample.value
                totals[key] = int(value) if float(value).is_integer() else value
    return totals


def _usd(total: float) -> str:
    """A float counter of dollars as a USD string (exact to the micro-dollar it was fed)."""
    return usd(Decimal(str(round(total, 6))))


def _kind(job: Job) -> str:
    """How a job got its outcome: its own execution, the result cache, or another job's."""
    if job.cached:
        return "cached"
    return "joined" if job.leader_id is not None else "executed"


class Metrics:
    """The gateway's collectors. `bind(settings)` sets which label values are known."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.recent = RecentAttempts()  # for the admin API, not exported
        r = self.registry
        self._tenants: frozenset[str] = frozenset()
        self._models: frozenset[str] = frozenset()
        self._backends: frozenset[str] = frozenset()
        if settings is not None:
            self.bind(settings)
        Info("imagegate_build", "The running gateway's version.", registry=r).info(
            {"version": __version__}
        )
        self.http_requests = Counter(
            "imagegate_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "imagegate_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            registry=r,
        )
        # (route, method, status) -> its two children: `labels()` takes a lock and builds
        # a key per call, at every request. Bounded: route templates x methods x statuses.
        self._http_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.jobs_submitted = Counter(
            "imagegate_jobs_submitted_total",
            "Jobs admitted, by tenant, model and kind (executed, cached, joined).",
            ["tenant", "model", "kind"],
            registry=r,
        )
        self.jobs_finished = Counter(
            "imagegate_jobs_finished_total",
            "Jobs that reached a final status, by tenant, model, status and kind.",
            ["tenant", "model", "status", "kind"],
            registry=r,
        )
        self.job_failures = Counter(
            "imagegate_job_failures_total",
            "Jobs that ended FAILED, by tenant and error code.",
            ["tenant", "code"],
            registry=r,
        )
        self.refusals = Counter(
            "imagegate_refusals_total",
            "Requests refused by a quota, by tenant and reason (the error code).",
            ["tenant", "reason"],
            registry=r,
        )
        self.vendor_attempts = Counter(
            "imagegate_vendor_attempts_total",
            "Backend calls, by backend and outcome ('ok' or the error code).",
            ["backend", "outcome"],
            registry=r,
        )
        self.jobs_deferred = Counter(
            "imagegate_jobs_deferred_total",
            "Jobs handed back to the queue because a backend's rate window or concurrency "
            "was full, by backend and reason (rate, concurrency).",
            ["backend", "reason"],
            registry=r,
        )
        self.vendor_duration = Histogram(
            "imagegate_vendor_attempt_duration_seconds",
            "Time one backend call took, by backend.",
            ["backend"],
            buckets=VENDOR_BUCKETS,
            registry=r,
        )
        self.charged = Counter(
            "imagegate_charged_usd_total",
            "USD charged for backend calls, by tenant and backend.",
            ["tenant", "backend"],
            registry=r,
        )
        self.saved = Counter(
            "imagegate_saved_usd_total",
            "USD not spent because a job was served from the cache or joined another, "
            "by tenant (each at its first attempt's estimate).",
            ["tenant"],
            registry=r,
        )
        self.budget_spent = Gauge(
            "imagegate_budget_spent_usd",
            "USD spent (and reserved) in the tenant's current budget window.",
            ["tenant"],
            registry=r,
        )
        self.budget_limit = Gauge(
            "imagegate_budget_limit_usd",
            "The tenant's spend budget per window, in USD.",
            ["tenant"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "imagegate_queue_depth", "Jobs waiting in the queue (shared state).", registry=r
        )
        self.queue_oldest_age = Gauge(
            "imagegate_queue_oldest_age_seconds",
            "Age of the oldest job waiting in the queue (0 when none).",
            registry=r,
        )
        self.queue_deferred = Gauge(
            "imagegate_queue_deferred",
            "Jobs back in the queue until their backend has room (shared state).",
            registry=r,
        )
        self.workers_busy = Gauge(
            "imagegate_workers_busy", "Workers of this process running a job.", registry=r
        )
        self.workers_total = Gauge(
            "imagegate_workers_total",
            "Workers this process runs (0 once its claim loop has ended).",
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "imagegate_webhook_deliveries_total",
            "Webhook deliveries, by outcome (delivered, rejected, failed, blocked).",
            ["outcome"],
            registry=r,
        )
        self.state_errors = Counter(
            "imagegate_state_errors_total",
            "Times the state store could not be reached, by where (api, worker).",
            ["where"],
            registry=r,
        )
        self.storage_errors = Counter(
            "imagegate_storage_errors_total",
            "Times object storage failed, by where (api, worker).",
            ["where"],
            registry=r,
        )

    # -- label bounds ------------------------------------------------------------------
    def bind(self, settings: Settings) -> None:
        """Known label values come from the running config (called again on reload)."""
        self._tenants = frozenset(settings.tenants)
        self._models = frozenset(settings.models)
        self._backends = frozenset(settings.backends)

    def tenant(self, name: str | None) -> str:
        return name if name in self._tenants else OTHER

    def _model(self, alias: str) -> str:
        return alias if alias in self._models else OTHER

    def backend(self, name: str) -> str:
        return name if name in self._backends else OTHER

    # -- events (one call per event at each call site) ---------------------------------
    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else OTHER
        children = self._http_children.get((route, method, status))
        if children is None:
            children = (
                self.http_requests.labels(route, method, str(status)),
                self.http_duration.labels(route, method),
            )
            self._http_children[route, method, status] = children
        children[0].inc()
        children[1].observe(seconds)

    def job_submitted(self, job: Job, estimate: Decimal = Decimal("0")) -> None:
        """An admitted job (one cached at birth is counted finished by the finish
        pipeline). A cached or joined job saves what its first attempt would have cost."""
        kind, tenant = _kind(job), self.tenant(job.tenant)
        self.jobs_submitted.labels(tenant, self._model(job.spec.model), kind).inc()
        if kind != "executed" and estimate > 0:
            self.saved.labels(tenant).inc(float(estimate))

    async def count_ended(self, jobs: list[Job]) -> None:
        """The finish pipeline's hook (`gateway/endings.py`)."""
        self.jobs_ended(jobs)

    def jobs_ended(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            tenant = self.tenant(job.tenant)
            model, status = self._model(job.spec.model), job.status.value
            self.jobs_finished.labels(tenant, model, status, _kind(job)).inc()
            if job.error is not None:
                self.job_failures.labels(tenant, job.error.code).inc()

    def refused(self, tenant: str | None, reason: str) -> None:
        self.refusals.labels(self.tenant(tenant), reason).inc()

    def vendor_attempt(
        self,
        tenant: str,
        backend: str,
        outcome: str,
        cost: Decimal,
        seconds: float,
        error: str | None = None,
    ) -> None:
        """One backend call; `error` is its redacted message when it failed."""
        backend = self.backend(backend)
        self.recent.record(backend, outcome, seconds, error)
        self.vendor_attempts.labels(backend, outcome).inc()
        self.vendor_duration.labels(backend).observe(seconds)
        if cost > 0:
            self.charged.labels(self.tenant(tenant), backend).inc(float(cost))

    def deferred(self, backend: str, reason: str) -> None:
        self.jobs_deferred.labels(self.backend(backend), reason).inc()

    def budgets(self, readings: dict[str, tuple[Decimal, Decimal]]) -> None:
        """Tenant -> (spent, limit) now; a tenant no longer budgeted drops out."""
        self.budget_spent.clear()
        self.budget_limit.clear()
        for tenant, (spent, limit) in readings.items():
            self.budget_spent.labels(self.tenant(tenant)).set(float(spent))
            self.budget_limit.labels(self.tenant(tenant)).set(float(limit))

    def queue(self, depth: int, oldest_age: float, deferred: int = 0) -> None:
        self.queue_depth.set(depth)
        self.queue_oldest_age.set(oldest_age)
        self.queue_deferred.set(deferred)

    def watch_workers(self, busy: Callable[[], int], total: Callable[[], int]) -> None:
        """Read at scrape time from the worker pool."""
        self.workers_busy.set_function(busy)
        self.workers_total.set_function(total)

    def webhook_delivery(self, outcome: str) -> None:
        """delivered (2xx), rejected (a final 4xx answer), failed (retries used up)."""
        self.webhook_deliveries.labels(outcome).inc()

    def state_error(self, where: str) -> None:
        self.state_errors.labels(where).inc()

    def storage_error(self, where: str) -> None:
        self.storage_errors.labels(where).inc()

    def overview(self) -> dict[str, Any]:
        """This process's totals over every label but one: the admin overview."""
        submitted = _sum_by(self.jobs_submitted, "kind")
        reused = submitted.get("cached", 0) + submitted.get("joined", 0)
        total = sum(submitted.values())
        return {
            "jobsSubmitted": submitted,
            "jobsFinished": _sum_by(self.jobs_finished, "status"),
            "failuresByCode": _sum_by(self.job_failures, "code"),
            "refusalsByReason": _sum_by(self.refusals, "reason"),
            "vendorAttempts": _sum_by(self.vendor_attempts, "outcome"),
            "cacheHitRatio": round(reused / total, 4) if total else None,
            "chargedUsd": _usd(sum(_sum_by(self.charged, "tenant").values())),
            "savedUsd": _usd(sum(_sum_by(self.saved, "tenant").values())),
            "webhookDeliveries": _sum_by(self.webhook_deliveries, "outcome"),
        }

    def render(self) -> bytes:
        """The text exposition format of this process's registry."""
        return generate_latest(self.registry)
