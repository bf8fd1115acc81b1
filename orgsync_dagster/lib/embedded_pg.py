"""An embedded PostgreSQL server for the demo, `dagster dev` and tests when no database URL is configured.

It is a real PostgreSQL (the ``pgserver`` package ships the server binaries), started on a unix socket with
its data kept in a directory of ours, so nothing needs to be installed and data survives restarts.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_lock = threading.Lock()
_servers: dict[Path, object] = {}


def orgsync_home() -> Path:
    home = Path(os.environ.get("ORGSYNC_HOME", "~/.orgsync")).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def normalize_url(url: str) -> str:
    """Accept postgres://, postgresql:// and postgresql+driver:// spellings; use psycopg2."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def start_embedded(
    data_dir: str | Path | None = None, *, keep_running: bool = False, delete_on_exit: bool = False
) -> str:
    """Start (or attach to) the embedded server for ``data_dir`` and return its SQLAlchemy URL.

    With ``keep_running`` the server outlives this process; otherwise it stops when the last process using it
    exits, and with ``delete_on_exit`` its data directory is removed then too (throw-away servers for tests).
    """
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver then uses /tmp, which is fine
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver  # imported lazily: only needed when no server is configured

    path = Path(data_dir) if data_dir else orgsync_home() / "pgdata"
    path = path.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        srv = _servers.get(path)
        if srv is None:
            try:
                mode = None if keep_running else ("delete" if delete_on_exit else "stop")
                srv = pgserver.get_server(path, cleanup_mode=mode)
            except Exception as exc:  # pragma: no cover - depends on the machine
                raise RuntimeError(
                    f"could not start the embedded PostgreSQL in {path}: {exc}. Set ORGSYNC_WAREHOUSE_URL to "
                    "use an existing server instead."
                ) from exc
            _servers[path] = srv
    return normalize_url(srv.get_uri())


def release_embedded(data_dir: str | Path) -> None:
    """Let go of the embedded server for ``data_dir`` now (it stops if this process was its last user), e.g.
    before its directory is removed. Safe to call when it was never started."""
    path = Path(data_dir).expanduser().resolve()
    with _lock:
        srv = _servers.pop(path, None)
    if srv is not None:
        srv.cleanup()
