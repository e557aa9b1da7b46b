"""Prometheus metrics of the service, and the HTTP-client hooks that feed them.

With several server worker processes, ``crossdock serve`` sets ``PROMETHEUS_MULTIPROC_DIR``
before the workers start and :func:`render_metrics` aggregates every process's values.

Every label value comes from a closed set written in code (route templates, status codes, job and
capability names, outcomes, breaker states, :data:`~crossdock.httpclient.ErrorKind`), never from
free text: ``/metrics`` is unauthenticated, and an error message may quote what it should not
(a label also never expires, so free text would grow the series without bound).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from crossdock.httpclient import BreakerEvent, ClientEvent, GiveUpEvent, RequestEvent, RetryEvent

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BREAKER_STATES = ("closed", "open", "half_open")

HTTP_REQUESTS = Counter(
    "crossdock_http_requests_total",
    "HTTP requests served, by route template and status.",
    ["route", "status"],
)
HTTP_LATENCY = Histogram(
    "crossdock_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
SYNC_RUNS = Counter(
    "crossdock_sync_runs_total", "Sync runs, by capability and outcome.", ["capability", "outcome"]
)
JOB_RUNS = Counter("crossdock_job_runs_total", "Scheduled job runs, by job and outcome.", ["job", "outcome"])
UPSTREAM_REQUESTS = Counter(
    "crossdock_upstream_requests_total",
    "Attempts sent to upstream APIs, by upstream and status (or error kind).",
    ["upstream", "status"],
)
UPSTREAM_RETRIES = Counter(
    "crossdock_upstream_retries_total", "Retries scheduled, by upstream.", ["upstream"]
)
UPSTREAM_GIVE_UPS = Counter(
    "crossdock_upstream_give_ups_total", "Calls abandoned after retries, by upstream.", ["upstream"]
)
BREAKER_TRANSITIONS = Counter(
    "crossdock_upstream_breaker_transitions_total",
    "Circuit breaker transitions, by upstream and new state.",
    ["upstream", "state"],
)
BREAKER_STATE = Gauge(
    "crossdock_upstream_breaker_state",
    "1 for the current circuit state of each upstream, 0 for the others.",
    ["upstream", "state"],
    multiprocess_mode="max",
)
JOBS_ENQUEUED = Counter(
    "crossdock_jobs_enqueued_total", "Runs put on the distributed queue, by job.", ["job"]
)
JOB_QUEUE_DEPTH = Gauge(
    "crossdock_jobs_queue_depth",
    "Runs queued and not yet taken by a worker (seen by the active scheduler).",
    multiprocess_mode="max",
)
JOB_START_LATENCY = Histogram(
    "crossdock_jobs_enqueue_to_start_seconds",
    "Time from enqueueing a run to a worker starting it, by job.",
    ["job"],
    buckets=(*LATENCY_BUCKETS, 30.0, 60.0),
)
LOST_RUNS = Counter(
    "crossdock_jobs_lost_runs_total", "Runs marked lost (their worker stopped heartbeating), by job.", ["job"]
)
JOB_HEARTBEATS = Counter(
    "crossdock_jobs_heartbeats_total", "Heartbeats written by this process, by role.", ["role"]
)
JOB_HEARTBEAT_FAILURES = Counter(
    "crossdock_jobs_heartbeat_failures_total", "Heartbeats that could not be written, by role.", ["role"]
)
SCHEDULER_ACTIVE = Gauge(
    "crossdock_scheduler_active", "1 while this scheduler process is the active one.", multiprocess_mode="max"
)


class MetricsHook:
    """Counts upstream attempts, retries, give-ups and breaker transitions; keeps the breaker-state gauge."""

    def __call__(self, event: ClientEvent, /) -> None:
        match event:
            case RequestEvent():
                UPSTREAM_REQUESTS.labels(event.upstream, upstream_status_label(event)).inc()
            case RetryEvent():
                UPSTREAM_RETRIES.labels(event.upstream).inc()
            case GiveUpEvent():
                UPSTREAM_GIVE_UPS.labels(event.upstream).inc()
            case BreakerEvent():
                BREAKER_TRANSITIONS.labels(event.upstream, event.new_state).inc()
                for state in BREAKER_STATES:
                    BREAKER_STATE.labels(event.upstream, state).set(1 if state == event.new_state else 0)


def upstream_status_label(event: RequestEvent) -> str:
    """The attempt's ``status`` label: its error kind if it failed (a body cut short after a 200 is a
    failure), else its HTTP status; never the error's text."""
    if event.error_kind is not None:
        return event.error_kind
    if event.status is not None:
        return str(event.status)
    return "other"


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus exposition of this process, or of all workers in multi-process mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
