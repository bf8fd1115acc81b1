"""The one HTTP layer every API client goes through.

It owns what callers must never re-implement: a pooled session per thread, timeouts, a token-bucket rate
limit, retries on 429/5xx honouring ``Retry-After`` with jittered exponential backoff, paging, a daily
request budget and a meter that records every request sent.

Retry rule: a 429 or a 503 means the server did not process the request, so it is always retried. Any other
5xx, a timeout or a dropped connection leaves a write in an unknown state: idempotent methods (GET, PUT,
DELETE) and writes the caller declares safe (``retry_unsafe=True``: upserts such as POST /signups) are
retried; other writes raise ``ApiError(uncertain=True)`` so the sync engine can reconcile against the
remote system instead of re-posting blindly.

Not sent: a refused connection, a failed DNS look-up, a connect timeout or a URL that cannot be requested mean the
request never reached the server. They raise ``ApiError(not_sent=True)`` (a definite failure, never "uncertain",
whatever the method), are retried at most twice, and after ``max_connect_failures`` of them in a row (any thread)
the client stops sending altogether: every later request raises ``HostUnreachable`` at once, without a connection
attempt, so a push stops after a few requests instead of retrying each member.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
NOT_PROCESSED_STATUSES = frozenset({429, 503})
_ID_SEGMENT = re.compile(r"^(\d+|[0-9a-fA-F-]{16,}|[A-Za-z]+:\d+)$")


class RequestMeter(Protocol):
    """Receives one call per HTTP attempt sent (status 0 = no response: timeout or dropped connection)."""

    def record(self, system: str, instance: str, method: str, endpoint: str, status: int) -> None: ...


class ApiError(Exception):
    """A request that did not succeed. The message never carries credentials or request bodies."""

    def __init__(
        self,
        system: str,
        method: str,
        endpoint: str,
        status: int,
        message: str,
        *,
        errors: list | None = None,
        uncertain: bool = False,
        retryable: bool = False,
        not_sent: bool = False,
    ):
        self.system, self.method, self.endpoint, self.status = system, method, endpoint, status
        self.not_sent = not_sent  # the request never reached the server (refused, DNS, bad URL): a definite failure
        self.errors = errors or []
        self.uncertain = uncertain  # a write that may have been applied although we saw no success
        self.retryable = retryable  # worth retrying in a later attempt or run
        self.detail = message
        super().__init__(f"{system} {method} {endpoint} -> {status or 'no response'}: {message}")


class HostUnreachable(ApiError):
    """The server refused connections (or could not be resolved) several times in a row: nothing more is sent by
    this client. Callers stop their run; what was not attempted is retried by the next one."""

    stop_run = True


def connect_failure(exc: BaseException) -> str | None:
    """Why a ``requests`` exception means the request was never sent (``None``: it may have been)."""
    if isinstance(exc, (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)):
        return "invalid URL (no http/https scheme)"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader)):
        return "invalid URL"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        try:
            from urllib3.exceptions import NameResolutionError, NewConnectionError
        except ImportError:  # pragma: no cover
            return None
        if isinstance(reason, NameResolutionError):
            return "DNS look-up failed"
        if isinstance(reason, NewConnectionError):
            return "connection refused"
    return None


class BudgetExceeded(Exception):
    """Sending one more request would exceed the configured daily request budget."""


class TokenBucket:
    """Thread-safe token bucket: at most ``rate`` requests per second on average, bursts up to ``capacity``."""

    def __init__(self, rate: float, capacity: float | None = None, clock=time.monotonic, sleep=time.sleep):
        if not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate must be a positive finite number of requests per second, not {rate!r}")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(1.0, rate))
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / self.rate
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Server told us to back off (Retry-After): drain the bucket so every thread waits."""
        with self._lock:
            self._tokens = min(self._tokens, 1.0 - seconds * self.rate)


@dataclass
class DailyBudget:
    """A per-instance daily request budget. ``spent`` returns what was already spent today (from the meter)."""

    limit: int
    spent: Callable[[], int]

    def check(self) -> None:
        used = self.spent()
        if used >= self.limit:
            raise BudgetExceeded(f"daily request budget of {self.limit} reached ({used} spent today)")


def endpoint_template(path: str) -> str:
    """``/v4/events/1234`` -> ``/v4/events/{id}`` so the meter groups requests by endpoint, not by record."""
    parts = [("{id}" if _ID_SEGMENT.match(p) else p) for p in urlsplit(path).path.split("/")]
    return "/".join(parts) or "/"


def parse_retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return default
        return max(0.0, parsed.timestamp() - time.time())


def _error_message(resp: requests.Response) -> tuple[str, list]:
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or resp.reason or "")[:300], []
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list):  # VAN
            errs = body["errors"]
            texts = []
            for e in errs:
                if isinstance(e, dict):
                    props = e.get("properties") or []
                    texts.append(f"{e.get('code', '')}: {e.get('text', '')}" + (f" {props}" if props else ""))
            return "; ".join(texts)[:500], errs
        if "error" in body:  # Action Network
            return str(body["error"])[:500], [body]
    return str(body)[:300], []


class HttpClient:
    """HTTP access to one API instance (one key). Thread-safe; each thread gets its own pooled session."""

    def __init__(
        self,
        base_url: str,
        *,
        system: str,
        instance: str = "default",
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        rate_limiter: TokenBucket | None = None,
        meter: RequestMeter | None = None,
        budget: DailyBudget | None = None,
        backoff_base: float = 0.35,
        backoff_cap: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        max_connect_failures: int = 3,
    ):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.system, self.instance = system, instance
        self._auth, self._headers = auth, dict(headers or {})
        self._headers.setdefault("Accept", "application/json")
        self._headers.setdefault("User-Agent", "orgsync-dagster/0.1")
        self.timeout, self.max_retries = timeout, max_retries
        self.rate_limiter, self.meter, self.budget = rate_limiter, meter, budget
        self.backoff_base, self.backoff_cap, self._sleep = backoff_base, backoff_cap, sleep
        self._local = threading.local()
        self._base = urlsplit(self.base_url)
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        self.max_connect_failures = max(1, max_connect_failures)
        self.connect_failures = 0  # consecutive, across threads; reset by any answer
        self.unreachable: str | None = None  # set once the host refused max_connect_failures times in a row

    # -- plumbing -------------------------------------------------------------------------------------------
    @property
    def session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers.update(self._headers)
            if self._auth:
                s.auth = self._auth
            self._local.session = s
        return s

    def url_for(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            target = urlsplit(path_or_url)
            if target.hostname != self._base.hostname:
                # never send credentials to a host other than the configured one
                raise ApiError(self.system, "GET", "?", 0, "refusing to follow a link to another host")
            return path_or_url
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0.5, 1.0) * min(self.backoff_cap, self.backoff_base * (2**attempt))

    def _record(self, method: str, endpoint: str, status: int) -> None:
        with self._count_lock:
            self.requests_sent += 1
        if self.meter is not None:
            self.meter.record(self.system, self.instance, method, endpoint, status)

    # -- the one request method ------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        retry_unsafe: bool = False,
        ok_statuses: tuple[int, ...] = (200, 201, 202, 204, 302),
    ) -> requests.Response:
        method = method.upper()
        url = self.url_for(path_or_url)
        endpoint = endpoint_template(url)
        safe_to_retry = method in IDEMPOTENT_METHODS or retry_unsafe
        attempt = 0
        while True:
            if self.unreachable is not None:
                raise HostUnreachable(
                    self.system, method, endpoint, 0, f"not sent: {self.unreachable}", not_sent=True, retryable=True
                )
            if self.budget is not None:
                self.budget.check()
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            try:
                resp = self.session.request(
                    method, url, params=params, json=json, timeout=self.timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                why = connect_failure(exc)
                if why is not None:  # nothing reached the server: safe to retry whatever the method, a few times
                    if not why.startswith("invalid URL"):  # a connection was attempted (not a request)
                        self._record(method, endpoint, 0)
                    with self._count_lock:
                        self.connect_failures += 1
                        if self.connect_failures >= self.max_connect_failures and self.unreachable is None:
                            self.unreachable = (
                                f"{self._base.hostname or 'the server'} {why} ({self.connect_failures} times in a row)"
                            )
                    if self.unreachable is not None:
                        raise HostUnreachable(
                            self.system,
                            method,
                            endpoint,
                            0,
                            f"not sent: {self.unreachable}",
                            not_sent=True,
                            retryable=True,
                        ) from None
                    if attempt < min(2, self.max_retries) and not why.startswith("invalid URL"):
                        self._sleep(self._backoff(attempt))
                        attempt += 1
                        continue
                    raise ApiError(
                        self.system, method, endpoint, 0, f"not sent: {why}", not_sent=True, retryable=True
                    ) from None
                if not isinstance(exc, (requests.ConnectionError, requests.Timeout)):
                    self._record(method, endpoint, 0)  # e.g. a broken answer: the request was sent
                    raise ApiError(
                        self.system,
                        method,
                        endpoint,
                        0,
                        f"request failed: {type(exc).__name__}",
                        uncertain=method not in IDEMPOTENT_METHODS,
                        retryable=True,
                    ) from None
                self._record(method, endpoint, 0)
                with self._count_lock:
                    self.connect_failures = 0
                kind = "timeout" if isinstance(exc, requests.Timeout) else "connection lost"
                if safe_to_retry and attempt < self.max_retries:
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise ApiError(
                    self.system,
                    method,
                    endpoint,
                    0,
                    kind,
                    uncertain=method not in IDEMPOTENT_METHODS,
                    retryable=True,
                ) from None
            self._record(method, endpoint, resp.status_code)
            if self.connect_failures:
                with self._count_lock:
                    self.connect_failures = 0
            status = resp.status_code
            if status in ok_statuses:
                return resp
            not_processed = status in NOT_PROCESSED_STATUSES
            transient = not_processed or status >= 500
            if transient and (not_processed or safe_to_retry) and attempt < self.max_retries:
                wait = self._backoff(attempt)
                if status == 429 or resp.headers.get("Retry-After"):
                    wait = max(wait, parse_retry_after(resp.headers.get("Retry-After"), wait))
                    if self.rate_limiter is not None:
                        self.rate_limiter.pause(wait)
                self._sleep(wait)
                attempt += 1
                continue
            message, errors = _error_message(resp)
            raise ApiError(
                self.system,
                method,
                endpoint,
                status,
                message,
                errors=errors,
                uncertain=transient and not not_processed and method not in IDEMPOTENT_METHODS,
                retryable=transient,
            )

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    # -- paging -----------------------------------------------------------------------------------------------
    def paginate_next_link(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        items_key: str = "items",
        next_key: str = "nextPageLink",
    ) -> Iterator[dict]:
        """VAN style: follow the absolute ``nextPageLink`` verbatim (never re-send params) until it is null."""
        page = self.get_json(path, params)
        while True:
            items = page.get(items_key) or []
            yield from items
            nxt = page.get(next_key)
            if not nxt or not items:
                return
            page = self.get_json(nxt)

    def paginate_pages(
        self, path: str, embedded_key: str, *, params: dict[str, Any] | None = None, per_page: int = 25
    ) -> Iterator[dict]:
        """Action Network style: ``page=N``; a page shorter than ``per_page`` is the last one (saves the
        extra empty-page request the API's always-present ``next`` link would cost)."""
        page_no = 1
        while True:
            q = dict(params or {})
            q.update({"page": page_no, "per_page": per_page})
            body = self.get_json(path, q)
            items = (body.get("_embedded") or {}).get(embedded_key) or []
            yield from items
            if len(items) < per_page:
                return
            page_no += 1
