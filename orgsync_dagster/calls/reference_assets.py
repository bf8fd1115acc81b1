"""The VAN reference data of a candidate's VAN database (the old /configure) and its blocking check
``candidate_config_valid`` (the old /validate): ``validate.check_candidate``, the same validation the config store
applies to every save, on the stored document with freshly fetched ids."""

import datetime as dt

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from orgsync_dagster.calls import runtime, validate
from orgsync_dagster.calls.partitions import calls_partitions, candidate_and_day
from orgsync_dagster.calls.tables import van_reference_data
from orgsync_dagster.lib.runtime import metered
from orgsync_dagster.partitions import API_RETRY
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.http import ApiError, BudgetExceeded
from orgsync_dagster.resources.van import VanConfigError, VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource

CONFIG_CHECK = "candidate_config_valid"


def fetch_reference(client, contact_type_id: int) -> dict:
    """Five requests: result codes for the contact type, contact types, input types, survey questions, activist codes."""
    return {
        "result_codes": client.result_codes_for_contact_type(contact_type_id),
        "result_codes_contact_type": contact_type_id,
        "contact_types": client.contact_types(),
        "input_types": client.input_types(),
        "survey_questions": list(client.survey_questions()),
        "activist_codes": list(client.activist_codes()),
    }


def stored_reference(engine, instance: str, mode: int) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(van_reference_data.c.data).where(
                van_reference_data.c.instance == instance, van_reference_data.c.mode == mode
            )
        ).first()
    return row[0] if row else None


@dg.asset(
    key=["van", "reference_data"],
    partitions_def=calls_partitions,
    group_name="calls",
    kinds={"ngpvan", "postgres"},
    pool="van_api",
    retry_policy=API_RETRY,
    check_specs=[
        dg.AssetCheckSpec(
            CONFIG_CHECK,
            asset=["van", "reference_data"],
            blocking=True,
            description=(
                "The candidate's stored configuration is usable and every VAN id in it (result codes, survey "
                "questions and responses, activist codes, contact and input types) exists and is active in VAN "
                "(the old /validate; the same validation the config store applies to every save). Blocks the sync."
            ),
        )
    ],
)
def van_reference_data_asset(
    context: dg.AssetExecutionContext,
    orgsync_config: OrgsyncConfigResource,
    warehouse: WarehouseResource,
    van: VanResource,
):
    """The VAN survey questions and responses, activist codes, result codes, contact and input types of a
    candidate's VAN database, fetched once per sync run and shown ready to copy into the candidate's results."""
    slug, _day = candidate_and_day(context)
    store = runtime.store(orgsync_config, warehouse)
    doc = store.get_candidate(slug)
    if doc is None or doc.removed:
        raise dg.Failure(
            description=f"candidate {slug!r} is not in the calls configuration (removed?)", allow_retries=False
        )
    settings = store.load_settings()
    body = doc.body
    strategy = str(body.get("strategy", "full")).replace(" ", "_")
    instance = body.get("van_instance")
    mode = 0 if str(body.get("van_mode", "myc")).lower() in ("van", "myvoters", "0") else 1
    others = {c.district: c.slug for c in settings.candidates.values() if c.slug != slug}
    if strategy == "all_csv" or not instance:
        problems = validate.check_candidate(
            slug, body, instances=set(settings.instances), deployment=settings.deployment, other_districts=others
        )
        yield dg.MaterializeResult(metadata={"candidate": slug, "strategy": strategy, "van_requests_spent": 0})
        yield _config_check(slug, body.get("display_name") or slug, strategy, problems, doc.version)
        return
    engine = warehouse.get_engine()
    source = "fetched"
    contact_type = body.get("contact_type_id", 1)
    with metered(engine) as meter:
        try:
            client = van.client(
                instance,
                db_mode=mode,
                daily_request_budget=settings.budget_for(instance),
                meter=meter,
                budget_spent=meter.budget_counter("van", instance),
            )
            ref = fetch_reference(client, contact_type if isinstance(contact_type, int) else 1)
        except BudgetExceeded:
            ref, source = stored_reference(engine, instance, mode), "cached (budget spent)"
            if ref is None:
                raise dg.Failure(
                    description=f"VAN {instance}: today's request budget is spent and no reference data was fetched before",
                    allow_retries=False,
                ) from None
        except ApiError as exc:
            if exc.retryable:
                raise  # 429/5xx after the client's own retries: the asset's retry policy tries again later
            hint = " (check the API key and the |0/|1 database mode)" if exc.status in (401, 403) else ""
            raise dg.Failure(
                description=f"cannot read VAN reference data for {slug}: {exc}{hint}", allow_retries=False
            ) from None
        except VanConfigError as exc:
            raise dg.Failure(
                description=f"cannot read VAN reference data for {slug}: {exc}", allow_retries=False
            ) from None
        spent = meter.spent("van")
    ref.update(
        instance=instance,
        mode=mode,
        fetched_at=ref.get("fetched_at") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    if source == "fetched":
        with engine.begin() as conn:
            stmt = pg_insert(van_reference_data).values(
                instance=instance, mode=mode, data=ref, fetched_at=sa.func.now()
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["instance", "mode"], set_={"data": stmt.excluded.data, "fetched_at": sa.func.now()}
                )
            )
    problems = validate.check_candidate(
        slug, body, instances=set(settings.instances), deployment=settings.deployment, ref=ref, other_districts=others
    )
    for p in problems:
        context.log.error(f"{slug}: {p}")
    parsed = settings.candidates.get(slug)
    yield dg.MaterializeResult(
        metadata={
            "candidate": slug,
            "van_instance": instance,
            "van_database_mode": "MyVoters (0)" if mode == 0 else "MyCampaign (1)",
            "source": source,
            "van_requests_spent": spent,
            **{
                k: len(ref.get(k) or [])
                for k in ("result_codes", "survey_questions", "activist_codes", "contact_types")
            },
            "configure": dg.MetadataValue.md(
                "```yaml\n"
                + (validate.configure_text(parsed, ref) if parsed else "(configuration not usable)")
                + "\n```"
            ),
        }
    )
    yield _config_check(slug, body.get("display_name") or slug, strategy, problems, doc.version)


def _config_check(slug: str, name: str, strategy: str, problems, version: int) -> dg.AssetCheckResult:
    head = f"Calls sync configuration of {slug} ({name}), strategy {strategy}, version {version}"
    if not problems:
        text = f"{head}\n\nThis sync is good to go!"
    else:
        text = f"{head}\n\nTHIS SYNC HAS ERRORS ({len(problems)}):\n" + "\n".join(f"- {p}" for p in problems)
    return dg.AssetCheckResult(
        check_name=CONFIG_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="This sync is good to go!"
        if not problems
        else f"{len(problems)} problem(s) in {slug}'s configuration",
        metadata={
            "problems": len(problems),
            "config_version": version,
            "report": dg.MetadataValue.md(text.replace("\n", "  \n")),
        },
    )
