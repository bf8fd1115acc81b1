"""Asset keys, check names, run tags and the partitions of the membership sync (shared by assets, sensors, jobs)."""

import dagster as dg

export_partitions = dg.DynamicPartitionsDefinition(name="actionkit_membership_exports")
TAG_BUCKET, TAG_KEY, TAG_ETAG, TAG_MODIFIED = (
    "membership/bucket",
    "membership/s3_key",
    "membership/etag",
    "membership/last_modified",
)
QUARANTINE_CHECK, GUARD_CHECK, PUSH_CHECK = "no_quarantined_rows", "mass_lapse_guard", "all_changes_pushed"
SNAPSHOT_KEY, DIFF_KEY, SYNC_KEY = (
    ["actionkit", "membership_snapshot"],
    ["membership", "diff"],
    ["action_network", "membership_sync"],
)
