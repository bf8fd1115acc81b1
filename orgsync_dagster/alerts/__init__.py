"""Operational health shared by every domain: Slack alerts (failed runs, failed ERROR checks, stale assets),
freshness policies of the scheduled assets, and recovery from runs whose worker died."""
