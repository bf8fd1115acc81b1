"""Stopping a process tree for good: `dagster dev` leaves its children (code server, webserver, daemon, run
workers) alive after SIGTERM to its process group, so the whole tree is found from /proc and killed."""

from __future__ import annotations

import os
import signal
import time


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc; empty elsewhere)."""
    children, out, todo = _children_map(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.append(child)
                todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
        return raw[raw.rfind(")") + 2 :].split()[0] not in ("Z", "X")
    except OSError:
        return True


def _signal(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_tree(pid: int, *, grace_seconds: float = 10.0) -> list[int]:
    """SIGTERM ``pid``, its process group and every descendant; SIGKILL whatever is left after the grace period.
    Returns the pids that were part of the tree."""
    tree = [pid, *descendants(pid)]
    try:
        os.killpg(os.getpgid(pid), signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    _signal(tree, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        tree += [p for p in descendants(pid) if p not in tree]  # children started while stopping
        if not any(alive(p) for p in tree):
            return tree
        time.sleep(0.2)
    tree += [p for p in descendants(pid) if p not in tree]
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _signal(tree, signal.SIGKILL)
    return tree
