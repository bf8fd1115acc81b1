import dagster as dg

from orgsync_dagster.usage.assets import api_usage

defs = dg.Definitions(assets=[api_usage])
