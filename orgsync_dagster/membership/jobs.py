"""The membership job: snapshot -> diff (+ blocking guard) -> push, for one export partition."""

import dagster as dg

from orgsync_dagster.membership.assets import DIFF_KEY, SNAPSHOT_KEY, SYNC_KEY

membership_sync_job = dg.define_asset_job(
    "membership_sync",
    selection=dg.AssetSelection.assets(SNAPSHOT_KEY, DIFF_KEY, SYNC_KEY),
    description="Load one ActionKit membership export, diff it against the previous one and push the changes to "
    "Action Network (blocked by the mass-lapse guard until approved).",
    # exports must be applied in order: the lead limits runs tagged orgsync/domain=membership to 1 in dagster.yaml
    tags={"orgsync/domain": "membership"},
)
