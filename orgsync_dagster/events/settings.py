"""The events sync's settings (the ``events`` section of orgsync.yaml): how ActionKit is read and which campaigns
become which VAN event types. Plain dataclasses, no Dagster: ``EventsSettings.from_config`` refuses a bad
section with a clear message."""

from __future__ import annotations

from dataclasses import dataclass, field

from orgsync_dagster.events.logic import VALIDATION_VERSION, clean
from orgsync_dagster.lib.ledger import payload_hash


@dataclass
class SourceSettings:
    """How ActionKit is read: incrementally by updated_at, with a periodic full pass that finds deletions."""

    full_pass_every_hours: float = 24.0
    overlap_minutes: float = 10.0  # re-read this much before the watermark (transactions committed late)
    max_missing_share: float = 0.05  # a full pass missing more of the known events than this stops for a person

    @classmethod
    def from_config(cls, section: dict | None) -> SourceSettings:
        section = section or {}
        if not isinstance(section, dict):
            raise ValueError("events.actionkit must be a mapping")
        out = cls(
            full_pass_every_hours=float(section.get("full_pass_every_hours", 24)),
            overlap_minutes=float(section.get("overlap_minutes", 10)),
            max_missing_share=float(section.get("max_missing_share", 0.05)),
        )
        if out.full_pass_every_hours <= 0 or out.overlap_minutes < 0 or not 0 <= out.max_missing_share <= 1:
            raise ValueError(
                "events.actionkit: full_pass_every_hours must be > 0, overlap_minutes >= 0, "
                "max_missing_share between 0 and 1"
            )
        return out


@dataclass
class EventsSettings:
    # VAN event type name -> ActionKit campaigns, each an id (int) or a campaign name (events_campaign.name)
    event_type_campaigns: dict[str, list[int | str]]
    instances: list[str]
    roles: list[str] = field(default_factory=lambda: ["Host", "Participant"])
    default_duration_minutes: int = 60
    shift_name: str = "Single Shift"
    export_lookback_days: int = 1
    source: SourceSettings = field(default_factory=SourceSettings)

    @classmethod
    def from_config(cls, events: dict, instances: list[str]) -> EventsSettings:
        mapping = events.get("event_type_campaigns") or {}
        if not isinstance(mapping, dict) or not mapping:
            raise ValueError("events.event_type_campaigns must map VAN event type names to ActionKit campaign ids")
        clean: dict[str, list[int | str]] = {}
        seen: dict[int | str, str] = {}
        for type_name, ids in mapping.items():
            ids = ids if isinstance(ids, list) else [ids]
            for cid in ids:
                if (
                    isinstance(cid, bool)
                    or not isinstance(cid, int | str)
                    or (isinstance(cid, str) and not cid.strip())
                ):
                    raise ValueError(
                        f"campaign {cid!r} for event type {type_name!r} must be an ActionKit campaign id (integer) "
                        "or a campaign name"
                    )
                norm = cid.strip().lower() if isinstance(cid, str) else cid
                if norm in seen:
                    raise ValueError(f"campaign {cid!r} is mapped to two event types: {seen[norm]!r} and {type_name!r}")
                seen[norm] = type_name
            clean[str(type_name)] = [c.strip() if isinstance(c, str) else c for c in ids]
        if not isinstance(instances, list) or not instances:
            raise ValueError("van.instances must list the VAN instances, e.g. [MI, WI]")
        return cls(
            event_type_campaigns=clean,
            instances=list(instances),
            roles=list(events.get("roles") or ["Host", "Participant"]),
            default_duration_minutes=int(events.get("default_duration_minutes", 60)),
            shift_name=str(events.get("shift_name", "Single Shift")),
            export_lookback_days=int(events.get("export_lookback_days", 1)),
            source=SourceSettings.from_config(events.get("actionkit")),
        )

    @property
    def campaign_to_type(self) -> dict[int, str]:
        return {cid: name for name, ids in self.event_type_campaigns.items() for cid in ids if isinstance(cid, int)}

    @property
    def campaign_name_to_type(self) -> dict[str, str]:
        return {
            cid.lower(): name for name, ids in self.event_type_campaigns.items() for cid in ids if isinstance(cid, str)
        }

    @property
    def needs_campaign_names(self) -> bool:
        """The mapping names campaigns: the read joins events_campaign for their names."""
        return bool(self.campaign_name_to_type)

    def type_for(self, row: dict) -> str | None:
        by_id = self.campaign_to_type.get(row.get("campaign_id"))
        if by_id is not None:
            return by_id
        name = clean(row.get("campaign_name")).lower()
        return self.campaign_name_to_type.get(name) if name else None

    @property
    def validation_hash(self) -> str:
        """Changes when a setting that decides validation changes (then every copied row is validated again)."""
        return payload_hash(
            [self.event_type_campaigns, sorted(self.instances), self.default_duration_minutes, VALIDATION_VERSION]
        )
