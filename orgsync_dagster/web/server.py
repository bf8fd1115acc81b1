"""Serving the web app with uvicorn: in a background thread (tests, the demo, ``orgsync web``), on a socket bound
before the server starts so that port 0 gives a free port whose URL is known as soon as it accepts connections."""

from __future__ import annotations

import os
import socket
import threading
import time

import uvicorn

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.lib.profile import ProfileError, is_local


def app_from_environment(host: str, *, warehouse_url: str | None = None):
    """The app on the configured warehouse, shifts settings and VAN instances (``orgsync web``)."""
    from orgsync_dagster.resources.warehouse import engine_for
    from orgsync_dagster.shifts.settings import ShiftsSettings
    from orgsync_dagster.web.app import create_app
    from orgsync_dagster.web.auth import WebConfig

    url = warehouse_url or os.environ.get("ORGSYNC_WAREHOUSE_URL")
    if not url and not is_local():
        raise ProfileError("the web app in production needs ORGSYNC_WAREHOUSE_URL (the PostgreSQL warehouse)")
    config = WebConfig.from_env()
    settings = ShiftsSettings.from_config(cfg.section("shifts"))
    return create_app(engine_for(url), settings, config, cfg.van_instances(), bound_host=host)


class WebServer:
    """uvicorn in a thread. ``start()`` returns the base URL once the server accepts connections."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        self.app, self.host, self.port = app, host, port
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.url: str | None = None

    def start(self, timeout: float = 30.0) -> str:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(512)
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the web server stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError("the web server did not start in time")
            time.sleep(0.02)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
