"""The sandbox server: VAN v4 and Action Network v2 emulators behind one HTTP port, plus an S3 endpoint (moto
in server mode) on a second port, with real-world behaviour on demand: latency, faults and rate limits.

Fault semantics (see docs/ARCHITECTURE.md): 429 and 503 are answered *before* the request is processed; 500 and
dropped connections happen *after* processing, so a client can never assume that a failed write did nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from werkzeug.serving import make_server

from orgsync_dagster.sandbox.action_network import ActionNetworkEmulator
from orgsync_dagster.sandbox.livevox import LivevoxEmulator
from orgsync_dagster.sandbox.van import VanEmulator

SYSTEM_PREFIXES = (("/v4/", "van"), ("/api/v2/", "action_network"), ("/livevox/", "livevox"))


def _json_response(start_response, status: str, body: dict, headers: list | None = None, content_type=None):
    data = json.dumps(body).encode()
    start_response(
        status,
        [("Content-Type", content_type or "application/json"), ("Content-Length", str(len(data)))] + (headers or []),
    )
    return [data]


def _error_body(system: str, status: int, text: str, code: str) -> dict:
    if system == "van":
        return {"errors": [{"code": code, "text": text}]}
    return {"error": text}


def api_key_of(system: str, environ: dict) -> str:
    """The key a request is made with (used for per-key rate limits; never logged)."""
    if system == "van":
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if auth.startswith("Basic "):
            try:
                _user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return ""
            return password.partition("|")[0]
        return ""
    return environ.get("HTTP_OSDI_API_TOKEN", "")


class _KeyRateLimiter:
    """Server side limit: ``rate`` requests per second per key with a one-second burst; excess is refused."""

    def __init__(self, rate: float):
        self.rate = rate
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def admit(self, system: str, key: str) -> float:
        """0 if admitted, else the seconds to wait before a token is available."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get((system, key), (self.rate, now))
            tokens = min(self.rate, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[(system, key)] = (tokens - 1.0, now)
                return 0.0
            self._buckets[(system, key)] = (tokens, now)
            return (1.0 - tokens) / self.rate


@dataclass
class SandboxUrls:
    van_url: str
    action_network_url: str
    s3_endpoint_url: str | None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class SandboxServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        rate_limit: float | None = None,
        with_s3: bool = True,
        seed: int | None = None,
        keys: Iterable[str] | None = None,
    ):
        """``seed``: random seed of fault injection. ``keys``: the only API keys VAN and Action Network accept
        (others answer 401 like the real services); default: any key, each with its own database."""
        if not 0.0 <= fault_rate < 1.0:
            raise ValueError("fault_rate must be in [0, 1)")
        self.host, self.port = host, port
        self.latency_ms, self.fault_rate = latency_ms, fault_rate
        self.limiter = _KeyRateLimiter(rate_limit) if rate_limit else None
        self.with_s3 = with_s3
        self.keys = sorted(set(keys)) if keys is not None else None
        self.van = VanEmulator(accepted_keys=self.keys)
        self.action_network = ActionNetworkEmulator(accepted_keys=self.keys)
        self.livevox = LivevoxEmulator()  # at <van_url minus "v4/">livevox/
        self.stats: Counter = Counter()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._server = None
        self._thread: threading.Thread | None = None
        self._moto = None
        self.urls: SandboxUrls | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> SandboxUrls:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request (moto uses werkzeug too)
        self._server = make_server(self.host, self.port, self, threaded=True)
        self._server.daemon_threads = True
        port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-http", daemon=True)
        self._thread.start()
        s3_url = None
        if self.with_s3:
            from moto.server import ThreadedMotoServer

            self._moto = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
            self._moto.start()
            _h, s3_port = self._moto.get_host_and_port()
            s3_url = f"http://{self.host}:{s3_port}"
        base = f"http://{self.host}:{port}"
        self.urls = SandboxUrls(f"{base}/v4/", f"{base}/api/v2/", s3_url)
        return self.urls

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- WSGI -----------------------------------------------------------------------------------------------
    def _emulator(self, system: str):
        if system == "livevox":
            return self.livevox
        return self.van if system == "van" else self.action_network

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._admin(environ, start_response, path)
        system = next(
            (name for prefix, name in SYSTEM_PREFIXES if path.startswith(prefix) or path + "/" == prefix), None
        )
        if system is None:
            return _json_response(start_response, "404 Not Found", {"error": f"no emulator serves {path}"})
        with self._rng_lock:
            self.stats["requests"] += 1
            self.stats[f"requests.{system}"] += 1
            roll = self._rng.random()
            fault = self._rng.choice(("429", "503", "500", "drop")) if roll < self.fault_rate else None
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        if self.limiter is not None:
            wait = self.limiter.admit(system, api_key_of(system, environ))
            if wait > 0:
                self.stats["rate_limited_429"] += 1
                return _json_response(
                    start_response,
                    "429 Too Many Requests",
                    _error_body(system, 429, "Too many requests: rate limit exceeded", "TOO_MANY_REQUESTS"),
                    [("Retry-After", str(max(1, math.ceil(wait))))],
                )
        if fault in ("429", "503"):
            self.stats[f"fault_{fault}"] += 1
            status = "429 Too Many Requests" if fault == "429" else "503 Service Unavailable"
            headers = [("Retry-After", "0")] if fault == "429" else []
            return _json_response(
                start_response,
                status,
                _error_body(system, int(fault), "injected fault", "SERVICE_UNAVAILABLE"),
                headers,
            )
        if fault is None:
            return self._emulator(system)(environ, start_response)
        # 500 / dropped: process the request for real, then lose the answer
        sink: list = []
        body = b"".join(self._emulator(system)(environ, lambda status, headers, exc_info=None: sink.append(status)))
        del body
        self.stats[f"fault_{fault}"] += 1
        if fault == "500":
            return _json_response(
                start_response,
                "500 Internal Server Error",
                _error_body(system, 500, "An unknown error occurred", "INTERNAL_SERVER_ERROR"),
            )
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # the server's write of this answer now fails as a dropped connection (handled quietly by werkzeug)
        start_response("500 Internal Server Error", [("Content-Length", "0")])
        return [b""]

    def _admin(self, environ, start_response, path: str):
        parts = [p for p in path.split("/") if p][1:]  # drop "_sandbox"
        method = environ.get("REQUEST_METHOD", "GET")
        ok = "200 OK"
        if parts == ["health"]:
            return _json_response(start_response, ok, {"ok": True, **(self.urls.as_dict() if self.urls else {})})
        if parts == ["stats"]:
            return _json_response(start_response, ok, dict(self.stats))
        if parts == ["reset"] and method == "POST":
            self.van.reset()
            self.action_network.reset()
            self.stats.clear()
            return _json_response(start_response, ok, {"reset": True})
        if len(parts) >= 2 and parts[0] in ("van", "action_network"):
            emulator = self._emulator(parts[0])
            if len(parts) == 2 and method == "GET":
                return _json_response(start_response, ok, emulator.dump(parts[1]))
            if len(parts) == 3 and parts[2] == "revoke" and method == "POST":
                emulator.revoke_key(parts[1])
                return _json_response(start_response, ok, {"revoked": True})
        return _json_response(start_response, "404 Not Found", {"error": "unknown sandbox admin path"})
