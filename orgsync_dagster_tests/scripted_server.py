"""A tiny HTTP server answering from a script, to test client behaviour precisely over real HTTP."""

from __future__ import annotations

import json
import threading
from collections import deque

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class ScriptedServer:
    def __init__(self):
        self.script: deque = deque()  # (status, body, headers)
        self.seen: list[dict] = []
        self._srv = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._srv.server_port}/v4/"
        self._t = threading.Thread(target=self._srv.serve_forever, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._srv.shutdown()

    def answer(self, status: int, body=None, headers: dict | None = None, times: int = 1):
        for _ in range(times):
            self.script.append((status, body, headers or {}))
        return self

    def _app(self, environ, start_response):
        req = Request(environ)
        self.seen.append(
            {
                "method": req.method,
                "path": req.path,
                "args": dict(req.args),
                "auth": req.headers.get("Authorization"),
                "body": req.get_data(as_text=True),
            }
        )
        status, body, headers = self.script.popleft() if self.script else (200, {"items": []}, {})
        data = "" if body is None else json.dumps(body)
        return Response(data, status=status, headers=headers, content_type="application/json")(environ, start_response)
