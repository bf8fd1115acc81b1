"""Alert sensors for every domain: failed runs, failed ERROR-severity checks and assets gone stale reach Slack,
routed per domain (``orgsync/domain`` run tag, else the domain of the assets), with names and counts only.

Built by ``build_alert_sensors(domains)`` because the asset -> domain map comes from the assembled definitions.
"""

from collections.abc import Mapping

import dagster as dg
from dagster._core.events import DagsterEventType

from orgsync_dagster.alerts import messages
from orgsync_dagster.alerts.freshness import describe_policy
from orgsync_dagster.alerts.routing import domain_for
from orgsync_dagster.resources.slack import SlackResource

RUN_FAILURE_SENSOR = "orgsync_run_failure_alert"
CHECK_FAILURE_SENSOR = "orgsync_check_and_freshness_alert"
EVENTS_PER_TICK = 500
_WATCHED = (DagsterEventType.ASSET_CHECK_EVALUATION, DagsterEventType.FRESHNESS_STATE_CHANGE)


def _int_metadata(metadata: Mapping) -> dict[str, int]:
    """Only whole-number metadata (counts) goes to Slack: no text, tables or links that could carry names."""
    out = {}
    for name, value in (metadata or {}).items():
        raw = getattr(value, "value", value)
        if isinstance(raw, int) and not isinstance(raw, bool) and not name.startswith("dagster/"):
            out[name] = raw
    return out


def _failure_detail(context: dg.RunFailureSensorContext) -> tuple[list[str], str | None]:
    steps, detail = [], None
    for event in context.get_step_failure_events():
        steps.append(event.step_key or "?")
        error = getattr(event.event_specific_data, "error", None)
        if detail is None and error is not None:
            cause = error.cause or error
            detail = f"{cause.cls_name}: {cause.message}" if cause.cls_name else cause.message
    if detail is None and context.failure_event is not None:
        detail = context.failure_event.message
    return steps, detail


def build_alert_sensors(domains: Mapping[str, str]) -> list[dg.SensorDefinition]:
    """The run-failure and check/freshness alert sensors; ``domains`` maps asset keys ("van/event_sync") to domains."""

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Tells the domain's Slack channel when any run of this code location fails: job, partition, "
        "failed steps and the error class (no personal data, no links).",
    )
    def run_failure_alert(context: dg.RunFailureSensorContext, slack: SlackResource):
        run = context.dagster_run
        keys = [k.to_user_string() for k in (run.asset_selection or [])]
        domain = domain_for(run.tags, keys, domains)
        steps, detail = _failure_detail(context)
        slack.post(
            messages.run_failure_text(
                domain=domain,
                job=run.job_name,
                run_id=run.run_id,
                partition=run.tags.get("dagster/partition"),
                failed_steps=steps,
                detail=detail,
            ),
            domain=domain,
        )

    @dg.sensor(
        name=CHECK_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Tells the domain's Slack channel when an asset check fails with ERROR severity, or an asset "
        "goes stale against its freshness policy (counts only).",
    )
    def check_and_freshness_alert(context: dg.SensorEvaluationContext, slack: SlackResource):
        storage = context.instance.event_log_storage
        if context.cursor is None:  # first tick: start from now, do not replay history
            latest = storage.get_maximum_record_id() or 0
            context.update_cursor(str(latest))
            return dg.SkipReason(f"watching check and freshness events after #{latest}")
        after = int(context.cursor)
        entries: dict = {}
        cap = None  # a type that filled its page may have more events after its last id: stop there
        for event_type in _WATCHED:  # one query per type (several types in one call is deprecated)
            page = storage.get_logs_for_all_runs_by_log_id(
                after_cursor=after, dagster_event_type=event_type, limit=EVENTS_PER_TICK
            )
            entries.update(page)
            if len(page) >= EVENTS_PER_TICK:
                cap = min(cap, max(page)) if cap is not None else max(page)
        ids = sorted(i for i in entries if cap is None or i <= cap)
        sent = 0
        for storage_id in ids:
            entry = entries[storage_id]
            after = max(after, storage_id)
            text, domain = _alert_for(context.instance, entry, domains)
            if text:
                slack.post(text, domain=domain)
                sent += 1
        context.update_cursor(str(after))
        return dg.SkipReason(f"{sent} alert(s) sent" if sent else "no failed ERROR check and nothing stale")

    return [run_failure_alert, check_and_freshness_alert]


def _alert_for(instance, entry, domains: Mapping[str, str]) -> tuple[str | None, str]:
    event = entry.dagster_event
    if event is None:
        return None, ""
    if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.asset_check_evaluation_data
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            return None, ""
        asset = evaluation.asset_key.to_user_string()
        run = instance.get_run_by_id(entry.run_id) if entry.run_id else None
        domain = domain_for(run.tags if run else None, [asset], domains)
        return (
            messages.check_failure_text(
                domain=domain,
                asset=asset,
                check=evaluation.check_name,
                partition=evaluation.partition,
                run_id=entry.run_id or None,
                counts=_int_metadata(evaluation.metadata),
            ),
            domain,
        )
    change = event.asset_freshness_state_change_data
    if change.new_state.value not in ("FAIL", "WARN"):
        return None, ""
    asset = change.key.to_user_string()
    domain = domain_for(None, [asset], domains)
    text = messages.freshness_text(
        domain=domain, asset=asset, state=change.new_state.value, policy=describe_policy(asset)
    )
    return text, domain


def build_recovery_sensor(domains: Mapping[str, str]) -> dg.SensorDefinition:
    """``orgsync_dead_run_worker_sensor``: see alerts/recovery.py."""
    from orgsync_dagster.alerts import recovery

    @dg.sensor(
        name=recovery.SENSOR_NAME,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Marks failed a run whose run worker process died (killed, host restarted) and frees its pool "
        "slots, so the next run is never blocked by a dead one (DefaultRunLauncher; on Kubernetes Dagster's run "
        "monitoring does this).",
    )
    def dead_run_worker_sensor(context: dg.SensorEvaluationContext, slack: SlackResource):
        instance = context.instance
        if not recovery.uses_default_run_launcher(instance):
            return dg.SkipReason("runs are not launched by the DefaultRunLauncher: Dagster's run monitoring applies")
        origin = context.code_location_origin
        dead = recovery.find_dead_runs(instance, location=origin.location_name if origin else recovery.LOCATION_NAME)
        for run in dead:
            freed = recovery.fail_and_free(instance, run)
            domain = domain_for(run.tags, [], domains)
            context.log.info(f"run {run.run_id}: worker pid {run.pid} gone; marked failed, {freed} slot(s) freed")
            slack.post(
                messages.dead_run_text(domain=domain, job=run.job, run_id=run.run_id, pid=run.pid, freed_slots=freed),
                domain=domain,
            )
        return dg.SkipReason(f"{len(dead)} dead run(s) failed and freed" if dead else "every started run is alive")

    return dead_run_worker_sensor
