"""Dagster assets of the ActionKit membership export -> Action Network sync (one partition per export).

Approving an export the mass-lapse guard blocked (or rejecting it) is one command,
``orgsync membership approve|reject EXPORT --by NAME --note TEXT`` (or the web app's /staff/membership page):
``approvals.decide`` records it and ``membership_approval_sensor`` starts the push of an approved export. A rejected
export is never pushed and later exports are compared with the one before it. The diff asset's run config
(``decision``, ``decided_by``, ``note``) goes through the same rules.
"""

from orgsync_dagster.membership.diff_asset import DiffConfig, membership_diff
from orgsync_dagster.membership.keys import (
    DIFF_KEY,
    GUARD_CHECK,
    PUSH_CHECK,
    QUARANTINE_CHECK,
    SNAPSHOT_KEY,
    SYNC_KEY,
    TAG_BUCKET,
    TAG_ETAG,
    TAG_KEY,
    TAG_MODIFIED,
    export_partitions,
)
from orgsync_dagster.membership.snapshot_asset import membership_snapshot
from orgsync_dagster.membership.sync_asset import MembershipSyncConfig, membership_sync

__all__ = [
    "DIFF_KEY",
    "GUARD_CHECK",
    "PUSH_CHECK",
    "QUARANTINE_CHECK",
    "SNAPSHOT_KEY",
    "SYNC_KEY",
    "TAG_BUCKET",
    "TAG_ETAG",
    "TAG_KEY",
    "TAG_MODIFIED",
    "DiffConfig",
    "MembershipSyncConfig",
    "export_partitions",
    "membership_diff",
    "membership_snapshot",
    "membership_sync",
]
