"""The gateway's runtime parts, opened together and closed together.

`Gateway.open(settings)` is what the app's lifespan and `imagegate worker` both call: it
builds the state, storage, URL builder, key ring, backends, runner and workers from the
frozen settings (only plans and tenants are swapped later, on SIGHUP: gateway/reload.py).
Tests pass overrides (a state, backends, a sleep) instead of patching.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

import httpx

from backends.base import Backend
from gateway.admission import Admission
from gateway.api.presenters import present_job
from gateway.auth import KeyRing
from gateway.backend_setup import build_backends
from gateway.batches import BatchStore, batches_from_url
from gateway.bootstrap import bootstrap
from gateway.budgets import Budgets
from gateway.cancels import Cancels
from gateway.capability_check import unsupported_at_submit
from gateway.capacity import Capacity, capacity_from_settings
from gateway.deadlines import DeadlineSweep
from gateway.directory import Directory, Live
from gateway.endings import Endings
from gateway.errors import unauthorized
from gateway.events import JobEvents
from gateway.idempotency import IdempotencyStore, idempotency_from_url
from gateway.jobs import Job, JobSpec
from gateway.metrics import Metrics
from gateway.money.book import PriceBook
from gateway.outbound import OutboundGuard
from gateway.previews import PreviewStore, previews_from_url
from gateway.quotas import RateLimiter
from gateway.runner import JobRunner
from gateway.settings import PlanSettings, Settings
from gateway.signing import UrlSigner
from gateway.state import StateStore, state_from_settings
from gateway.storage import ImageStore, UrlBuilder, open_image_store, url_builder
from gateway.submissions import Submissions
from gateway.usage import UsageStore
from gateway.usage.recorder import UsageRecorder
from gateway.vendor_http import vendor_client
from gateway.webhooks import Dispatcher, TenantSecrets
from gateway.worker import WorkerPool

log = logging.getLogger("imagegate")


@dataclass
class Gateway:
    live: Live  # the tenant directory in force (settings, keys, plans): gateway/directory.py
    state: StateStore
    images: ImageStore
    urls: UrlBuilder
    signer: UrlSigner  # the /files/ route verifies with it, whatever the URL mode
    backends: dict[str, Backend]
    http: httpx.AsyncClient
    vendor_http: httpx.AsyncClient  # the one the backends were built with
    outbound: OutboundGuard  # every request to a user-supplied URL goes through it
    webhooks: Dispatcher  # delivers the outbox (started where workers run)
    webhook_secrets: TenantSecrets
    endings: Endings  # the one finish pipeline; `endings.subscribe(hook)` to hear of endings
    workers: WorkerPool
    admission: Admission
    budgets: Budgets
    prices: PriceBook
    metrics: Metrics
    idempotency: IdempotencyStore
    events: JobEvents  # job change notifications: live status streams and waiting callers
    batches: BatchStore
    previews: PreviewStore  # partial images of streaming vendors, for /v1 streams
    capacity: Capacity  # backends' concurrency slots (per process, or global on Redis)
    cancels: Cancels  # cancel a job (client, deadline, batch): gateway/cancels.py
    deadlines: DeadlineSweep
    usage: UsageStore  # per-tenant, per-UTC-day usage records (gateway/usage/)
    new_keys: dict[str, str] = field(default_factory=dict)
    submissions: Submissions = field(init=False)  # the use cases every surface calls

    def __post_init__(self) -> None:
        self.submissions = Submissions(self)

    # The directory's parts, read through the one reference a reload replaces.
    @property
    def settings(self) -> Settings:
        return self.live.current.settings

    @property
    def keyring(self) -> KeyRing:
        return self.live.current.keyring

    @property
    def admin_keys(self) -> KeyRing:
        return self.live.current.admin_keys

    @property
    def plans(self) -> Mapping[str, PlanSettings]:
        return self.live.current.plans

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        state: StateStore | None = None,
        backends: Mapping[str, Backend] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        environ: Mapping[str, str] | None = None,
        worker_concurrency: int | None = None,
        metrics: Metrics | None = None,
        outbound: OutboundGuard | None = None,
    ) -> Gateway:
        boot = bootstrap(settings, environ)
        for tenant in boot.new_keys:
            # The key itself is never logged: `imagegate serve` prints it once on stdout.
            log.warning("generated an API key for tenant %r (see gateway.new_keys)", tenant)
        metrics = metrics or Metrics(settings)
        environ = os.environ if environ is None else environ
        images = open_image_store(settings.storage, environ)
        signer = UrlSigner(boot.signing_secret, settings.storage.url_ttl)
        urls = url_builder(settings.storage, images, settings.server.base_url, signer)
        http = httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False)
        vendor_http = vendor_client()  # backends' calls: httpx over aiohttp (vendor_http.py)
        outbound = outbound or OutboundGuard(
            allow_networks=settings.outbound.allow_networks, timeout=settings.outbound.timeout
        )
        state = state or state_from_settings(settings)
        if backends is None:
            backends = build_backends(settings, vendor_http, environ, outbound)
        backends = dict(backends)
        rates = RateLimiter.from_url(settings.state.url)
        budgets = Budgets(state)
        events = state.events  # the store announces the changes it writes (StateStore)
        previews = previews_from_url(settings.state.url)
        capacity = capacity_from_settings(settings)
        live = Live(Directory.of(settings, boot.key_hashes))
        webhook_secrets = TenantSecrets(settings, environ, live=live)
        for tenant in webhook_secrets.ensure():
            # The secret itself is never logged: `imagegate serve` prints it once on stdout.
            log.warning("generated a webhook secret for tenant %r (under data_dir)", tenant)
        webhooks = Dispatcher(
            state,
            outbound,
            webhook_secrets,
            lambda job: present_job(job, urls),
            settings.webhooks,
            lease=settings.webhooks.lease,
            attempt_timeout=min(settings.outbound.timeout, settings.webhooks.lease / 2),
            metrics=metrics,
        )
        usage = state.usage  # beside the jobs: a cache hit's usage is written by its submit
        endings = Endings(
            state,
            [
                metrics.count_ended,
                webhooks.jobs_finished,
                UsageRecorder(
                    usage, partial(_first_target, settings, PriceBook(settings.backends))
                ),
            ],
        )
        cancels = Cancels(state, endings, events, backends)
        runner = JobRunner(
            live=live,
            changed=partial(events.publish, progress=True),  # previews, deferrals
            gate=cancels.gate,
            backends=backends,
            images=images,
            state=state,
            rates=rates,
            budgets=budgets,
            sleep=sleep,
            metrics=metrics,
            capacity=capacity,
            input_url=urls.url_for_key,
            previews=previews,
        )
        workers = WorkerPool(
            state,
            runner,
            endings,
            concurrency=(
                settings.workers.concurrency if worker_concurrency is None else worker_concurrency
            ),
            grace=settings.workers.shutdown_grace,
            heartbeat_every=settings.workers.visibility_timeout / 3,
            metrics=metrics,
            events=events,
        )
        gateway = cls(
            live=live,
            state=state,
            images=images,
            urls=urls,
            signer=signer,
            backends=backends,
            http=http,
            vendor_http=vendor_http,
            outbound=outbound,
            webhooks=webhooks,
            webhook_secrets=webhook_secrets,
            endings=endings,
            workers=workers,
            admission=Admission(state, rates, budgets, metrics),
            budgets=budgets,
            prices=runner.prices,
            metrics=metrics,
            idempotency=idempotency_from_url(settings.state.url),
            events=events,
            batches=batches_from_url(settings.state.url),
            previews=previews,
            capacity=capacity,
            cancels=cancels,
            deadlines=DeadlineSweep(state, cancels, grace=settings.workers.visibility_timeout),
            usage=usage,
            new_keys=boot.new_keys,
        )
        await workers.start()
        gateway.deadlines.start()
        if workers.concurrency > 0:  # where jobs are worked, their webhooks are delivered
            webhooks.start()
        return gateway

    def rebind(self, settings: Settings) -> None:
        """Swap in reloaded plans, tenants and admin keys (gateway/reload.py): one new
        directory, one assignment, read by the API and the workers alike."""
        self.live.current = Directory.of(settings)
        self.metrics.bind(settings)  # its label sets follow the tenants

    def plan(self, tenant: str) -> PlanSettings:
        """The tenant's limits; a tenant removed by a reload since it authenticated is
        turned away like an unknown key."""
        plan = self.plans.get(tenant)
        if plan is None:
            raise unauthorized("unknown API key")
        return plan

    def check_honoured(self, spec: JobSpec) -> None:
        """Raise 400 naming the parameter the route's first target cannot honour."""
        refusal = unsupported_at_submit(self.settings, self.backends, spec)
        if refusal is not None:
            raise refusal

    def first_attempt_estimate(self, spec: JobSpec) -> Decimal:
        """What the first target of the job's route expects one attempt to cost."""
        return _first_target(self.settings, self.prices, spec)[1]

    def first_target(self, spec: JobSpec) -> tuple[str, Decimal]:
        """The backend of the job's first attempt, and what that attempt should cost."""
        return _first_target(self.settings, self.prices, spec)

    async def present(self, job: Job) -> dict[str, Any]:
        return await present_job(job, self.urls)

    async def aclose(self) -> None:
        await self.deadlines.stop()
        await self.workers.stop()
        await self.webhooks.aclose()
        for backend in self.backends.values():
            await backend.aclose()
        await self.http.aclose()
        await self.vendor_http.aclose()
        await self.outbound.aclose()
        await self.admission.rates.aclose()
        await self.idempotency.aclose()
        await self.events.aclose()
        await self.batches.aclose()
        await self.previews.aclose()
        await self.capacity.aclose()
        await self.state.aclose()  # and its usage records


def _first_target(settings: Settings, prices: PriceBook, spec: JobSpec) -> tuple[str, Decimal]:
    """The backend a job's first attempt goes to, and that attempt's estimate."""
    target = settings.models[spec.model].targets[0]
    estimate = prices.estimate(target.backend, target.model, spec.size, spec.quality, spec.n)
    return target.backend, estimate
