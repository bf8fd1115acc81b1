"""Non-secret configuration as data (``orgsync_dagster/config/orgsync.yaml`` or the file ``ORGSYNC_CONFIG`` names),
injected into assets, sensors and schedules as a resource instead of being read into module globals at import.

Each domain turns its section into a typed settings object, e.g.
``MembershipSettings.from_config(orgsync_config.section("membership"))``. Tests point ``path`` at a file of their
own instead of patching module state.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from orgsync_dagster.lib import config as cfg


class OrgsyncConfigResource(dg.ConfigurableResource):
    """The orgsync.yaml configuration (no secrets: keys and URLs come from the environment)."""

    path: str = Field(default="", description="Configuration file; empty: $ORGSYNC_CONFIG or the packaged default.")

    def section(self, name: str) -> dict:
        return cfg.section(name, self.path or None)

    def load(self) -> dict:
        return cfg.load_config(self.path or None)
