"""Local vs production, chosen explicitly: ``ORGSYNC_PROFILE=local|production``.

``local`` (the demo, the tests, ``orgsync dev``) may start an embedded PostgreSQL, use mongomock and the sandbox.
``production`` (the default, so a deployment that forgets to say anything is safe) never does: a missing setting
is an error naming what is missing, never a silent fallback.
"""

from __future__ import annotations

import os

PROFILE_ENV = "ORGSYNC_PROFILE"
LOCAL, PRODUCTION = "local", "production"
PROFILES = (LOCAL, PRODUCTION)


class ProfileError(RuntimeError):
    """The profile is unknown, or production lacks a setting it needs."""


def current_profile() -> str:
    value = (os.environ.get(PROFILE_ENV) or PRODUCTION).strip().lower()
    if value not in PROFILES:
        raise ProfileError(f"{PROFILE_ENV}={value!r} is not a profile; use one of {', '.join(PROFILES)}")
    return value


def is_local() -> bool:
    return current_profile() == LOCAL
