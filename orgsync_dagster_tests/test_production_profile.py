"""Production vs local: production refuses to start without its settings (one message naming every missing
variable) and never needs the local-only tools (pgserver, moto, mongomock, werkzeug)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import orgsync_dagster.resources.actionkit  # noqa: F401  (registers ACTIONKIT_DATABASE_URL, as the code location does)
from orgsync_dagster.lib import profile

REPO = Path(__file__).resolve().parent.parent
LOCAL_ONLY = ("pgserver", "moto", "mongomock", "werkzeug")

BLOCKER = textwrap.dedent(
    """
    import sys

    class _Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ImportError(f"{{name}} is a local-only tool: a production image does not install it")
            return None

    sys.meta_path.insert(0, _Blocked())
    """
)

PRODUCTION_ENV = {
    "ORGSYNC_PROFILE": "production",
    "ORGSYNC_WAREHOUSE_URL": "postgresql://warehouse@db.invalid:5432/warehouse",
    "DAGSTER_PG_URL": "postgresql://dagster@db.invalid:5432/dagster",
    "VAN_API_KEYS": '{"MI": "mi-key", "WI": "wi-key"}',
    "ACTION_NETWORK_API_KEY": "an-key",
    "MONGODB_URI": "mongodb://calls.invalid:27017",
    "ORGSYNC_S3_BUCKET": "org-bucket",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/T/B/X",
    "ACTIONKIT_DATABASE_URL": "mysql+pymysql://reader@actionkit.invalid:3306/ak",
}


def _clean_env(**extra) -> dict:
    names = {s.name for s in profile.settings()} | {"ORGSYNC_PROFILE", "DAGSTER_HOME"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(extra)
    return env


def _python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_production_code_location_without_settings_fails_at_once_naming_every_variable():
    proc = _python("import orgsync_dagster.definitions", _clean_env(ORGSYNC_PROFILE="production"))
    assert proc.returncode != 0
    err = proc.stderr
    assert "ProfileError" in err and "cannot start in the production profile" in err
    required = [s.name for s in profile.settings() if s.required]
    assert set(required) >= {
        "ORGSYNC_WAREHOUSE_URL",
        "DAGSTER_PG_URL",
        "VAN_API_KEYS",
        "ACTION_NETWORK_API_KEY",
        "MONGODB_URI",
        "ORGSYNC_S3_BUCKET",
        "ACTIONKIT_DATABASE_URL",
    }
    for name in required:  # one message lists every one of them
        assert f"{name} is not set" in err, name
    assert err.count("cannot start in the production profile") == 1
    # no embedded server was started on the way
    assert "pgserver" not in err


def test_production_rejects_a_mongomock_uri_and_a_malformed_key_map():
    env = _clean_env(**{**PRODUCTION_ENV, "MONGODB_URI": "mongomock://localhost", "VAN_API_KEYS": "MI"})
    proc = _python("import orgsync_dagster.definitions", env)
    assert proc.returncode != 0
    assert "MONGODB_URI: mongomock:// is an in-process stand-in" in proc.stderr
    assert "VAN_API_KEYS: VAN_API_KEYS must look like" in proc.stderr
    assert "mi-key" not in proc.stderr and "an-key" not in proc.stderr  # values are never echoed


def test_production_code_location_loads_without_the_local_only_tools():
    code = BLOCKER.format(blocked=set(LOCAL_ONLY)) + textwrap.dedent(
        """
        import orgsync_dagster.definitions as d
        repo = d.defs.get_repository_def()
        assert repo.asset_graph.get_all_asset_keys()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r})
        assert not loaded, loaded
        print("ok", len(repo.asset_graph.get_all_asset_keys()))
        """
    ).format(blocked=set(LOCAL_ONLY))
    proc = _python(code, _clean_env(**PRODUCTION_ENV))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok ")


def test_the_blocker_really_blocks():
    proc = _python(BLOCKER.format(blocked={"mongomock"}) + "import mongomock\n", _clean_env())
    assert proc.returncode != 0 and "local-only tool" in proc.stderr


def test_local_profile_fills_defaults_and_production_lists_problems():
    env = {"ORGSYNC_PROFILE": "local"}
    applied = profile.apply_defaults(env)
    assert env["MONGODB_URI"] == "mongomock://localhost" and env["VAN_URL"].startswith("https://api.securevan.com")
    assert "ORGSYNC_WAREHOUSE_URL" in applied and env["ORGSYNC_WAREHOUSE_URL"] == ""
    assert profile.problems(env) == []
    prod = {"ORGSYNC_PROFILE": "production"}
    profile.apply_defaults(prod)
    assert "MONGODB_URI" not in prod  # production gets no local stand-in
    assert len(profile.problems(prod)) == len([s for s in profile.settings() if s.required])
    with pytest.raises(profile.ProfileError, match="problem"):
        profile.assert_ready(environ=prod)
    with pytest.raises(profile.ProfileError, match="not a profile"):
        profile.current_profile({"ORGSYNC_PROFILE": "staging"})


def test_a_domain_can_register_a_setting_and_production_then_requires_it():
    setting = profile.Setting("ORGSYNC_TEST_ONLY_TOKEN", "a test-only token", owner="tests", required=True)
    profile.register(setting)
    try:
        problems = profile.problems({"ORGSYNC_PROFILE": "production"})
        assert any(
            p.startswith("ORGSYNC_TEST_ONLY_TOKEN is not set: a test-only token (needed by tests)") for p in problems
        )
        with pytest.raises(ValueError, match="registered twice"):
            profile.register(profile.Setting("ORGSYNC_TEST_ONLY_TOKEN", "something else"))
    finally:
        profile._registry.pop("ORGSYNC_TEST_ONLY_TOKEN", None)


def test_production_warehouse_never_starts_an_embedded_server(monkeypatch):
    from orgsync_dagster.resources.warehouse import WarehouseResource

    monkeypatch.setenv("ORGSYNC_PROFILE", "production")
    with pytest.raises(profile.ProfileError, match="ORGSYNC_WAREHOUSE_URL is not set"):
        WarehouseResource(url="").get_engine()
