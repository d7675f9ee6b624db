"""`imagegate config check [--env]` and `serve` start-up: every problem in one run, each
with its config path; warnings that do not stop anything."""

from __future__ import annotations

from pathlib import Path

from gateway.config_check import check_config
from gateway.settings import default_config_path, load_settings
from tests.servers import free_port
from tests.test_cli import run_cli

VENDORS = """
[models.vendor]
targets = [{ backend = "openai", model = "dall-e-3" }, { backend = "stab", model = "core" }]
sizes = ["1024x1024"]

[backends.openai]
type = "openai"
api_key_env = "CHECK_TEST_OPENAI_KEY"
prices = { "dall-e-3" = "0.04" }

[backends.stab]
type = "stability"
api_key_env = "CHECK_TEST_STABILITY_KEY"
prices = { core = "0.03" }
"""
SECRET = "s" * 32


def config(tmp_path: Path, extra: str = "", base: str | None = None) -> Path:
    path = tmp_path / "gateway.toml"
    text = default_config_path().read_text() if base is None else base
    path.write_text(text + "\n" + extra)
    return path


def paths(report_text: str, kind: str) -> list[str]:
    """The config paths of the `kind` ("error"/"warning") lines of a report."""
    return [
        line.strip().split(": ")[1]
        for line in report_text.splitlines()
        if line.strip().startswith(f"{kind}: ")
    ]


def test_every_problem_of_a_file_in_one_run_each_with_its_path(tmp_path: Path) -> None:
    broken = (
        default_config_path()
        .read_text()
        .replace("max_attempts = 3", 'max_attempts = "three"')
        .replace("port = 8080", 'port = "eighty"')
        .replace('plan = "free"', 'plan = "gold"')
    )
    extra = """
[models.two]
targets = [{ backend = "nowhere", model = "m" }]
[models.three]
sizes = ["big"]
targets = [{ backend = "procedural", model = "m" }]
[backends.local]
type = "openai-compatible"
free = true
[backends.flux]
type = "replicate"
free = true
options = { poll_interval = "often" }
[backends.mystery]
type = "no-such-type"
"""
    result = run_cli("config", "check", str(config(tmp_path, extra, base=broken)))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert sorted(paths(result.stderr, "error")) == sorted(
        [
            "server.port",  # field errors in three sections...
            "retry.max_attempts",
            "models.three.sizes",
            "models.two",  # ...and, in the same run, references to nothing
            "tenants.demo",
            "backends.local",  # a backend's constructor (openai-compatible needs base_url)
            "backends.flux.options.poll_interval",
            "backends.mystery",
        ]
    )
    assert "plan 'gold' is not defined" in result.stderr
    assert "target backend 'nowhere' is not defined" in result.stderr
    assert "base_url must name the server" in result.stderr


def test_a_reference_to_an_entry_that_did_not_validate_is_not_a_second_problem(
    tmp_path: Path,
) -> None:
    extra = """
[plans.gold]
rate = "lots"
[tenants.acme]
plan = "gold"
generate_key = true
"""
    report = check_config(config(tmp_path, extra), environ={})
    assert [(p.path, p.warning) for p in report.problems] == [("plans.gold.rate", False)]


def test_env_checks_every_backend_key_and_the_signing_secret(tmp_path: Path) -> None:
    path = config(tmp_path, VENDORS)
    # Without --env the file is fine: keys are the deploying environment's business.
    plain = run_cli("config", "check", str(path))
    assert plain.returncode == 0, plain.stderr
    assert "ok" in plain.stdout

    result = run_cli("config", "check", "--env", str(path))
    assert result.returncode == 1
    assert paths(result.stderr, "error") == [
        "backends.openai.api_key_env",
        "backends.stab.api_key_env",
    ]
    assert "CHECK_TEST_OPENAI_KEY is not set" in result.stderr
    assert "CHECK_TEST_STABILITY_KEY is not set" in result.stderr

    keys = {"CHECK_TEST_OPENAI_KEY": "sk-1", "CHECK_TEST_STABILITY_KEY": "sk-2"}
    assert check_config(path, keys, env=True).problems == []
    short = check_config(path, {**keys, "IMAGEGATE_SIGNING_SECRET": "short"}, env=True)
    assert [(p.path, p.warning) for p in short.problems] == [("storage.signing_secret_env", False)]
    assert "at least 16 bytes" in short.problems[0].message


def test_shared_state_without_a_signing_secret_warns_and_fails_env(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        base=default_config_path()
        .read_text()
        .replace('url = "memory://"', 'url = "redis://127.0.0.1:6379/0"'),
    )
    plain = run_cli("config", "check", str(path))
    assert plain.returncode == 0
    assert "1 warning(s)" in plain.stdout
    assert paths(plain.stderr, "warning") == ["storage.signing_secret_env"]
    assert "IMAGEGATE_SIGNING_SECRET is not set" in plain.stderr

    strict = run_cli("config", "check", "--env", str(path))
    assert strict.returncode == 1
    assert paths(strict.stderr, "error") == ["storage.signing_secret_env"]

    with_secret = check_config(path, {"IMAGEGATE_SIGNING_SECRET": SECRET}, env=True)
    assert with_secret.problems == []
    # memory:// is one process: the secret generated under data_dir is the default.
    assert check_config(default_config_path(), {}, env=True, secret_required=True).problems == []


def test_a_tenant_nobody_can_use_is_a_warning(tmp_path: Path) -> None:
    path = config(tmp_path, '[tenants.orphan]\nplan = "free"\n')
    result = run_cli("config", "check", str(path))
    assert result.returncode == 0
    assert paths(result.stderr, "warning") == ["tenants.orphan"]
    assert "nobody can use this tenant" in result.stderr
    # A tenant with a key, or one generated at first start (demo), is not warned about.
    assert "tenants.demo" not in result.stderr


def test_a_clean_report_holds_the_settings_serve_would_load(tmp_path: Path) -> None:
    path = config(tmp_path, VENDORS)
    report = check_config(path, {"IMAGEGATE_SERVER__PORT": "9123"})
    assert report.problems == []
    assert report.settings == load_settings(path, environ={"IMAGEGATE_SERVER__PORT": "9123"})
    bad_toml = config(tmp_path, "[server\n")
    assert [p.path for p in check_config(bad_toml, {}).problems] == ["file"]


def test_serve_refuses_to_start_with_the_same_list(tmp_path: Path) -> None:
    path = config(tmp_path, VENDORS + "\n[tenants.orphan]\nplan = 'free'\n")
    result = run_cli("serve", "--config", str(path), "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    # Both missing keys at once, not one failed start per key; warnings come along.
    assert paths(result.stderr, "error") == [
        "backends.openai.api_key_env",
        "backends.stab.api_key_env",
    ]
    assert paths(result.stderr, "warning") == ["tenants.orphan"]


def test_a_cluster_state_url_is_accepted_and_a_bad_one_is_named(tmp_path: Path) -> None:
    def state_url_problems(url: str) -> list[tuple[str, str]]:
        text = default_config_path().read_text().replace('url = "memory://"', f'url = "{url}"')
        report = check_config(config(tmp_path, base=text), {"IMAGEGATE_SIGNING_SECRET": SECRET})
        return [(problem.path, problem.message) for problem in report.problems]

    assert state_url_problems("redis+cluster://10.0.0.1:6379,10.0.0.2:6380") == []
    assert state_url_problems("redis+cluster://:pw@[::1]:7000") == []
    [(path, message)] = state_url_problems("mongodb://db:27017")
    assert path == "state.url"
    assert "unknown scheme 'mongodb'" in message and "redis+cluster://" in message
    [(path, message)] = state_url_problems("redis+cluster://10.0.0.1,10.0.0.2:6379")
    assert path == "state.url" and "'10.0.0.1' in the cluster URL is not host:port" in message
    # Over TLS: the CA file (and redis-py's other TLS options) in the query, nothing else.
    assert state_url_problems("rediss+cluster://10.0.0.1:6379?ssl_ca_certs=/etc/ca.pem") == []
    for url, named in (
        ("rediss+cluster://10.0.0.1:6379?ssl_ca=/etc/ca.pem", "unknown cluster URL option"),
        ("redis+cluster://10.0.0.1:6379?ssl_ca_certs=/etc/ca.pem", "use rediss+cluster://"),
        ("rediss+cluster://10.0.0.1:6379?ssl_cert_reqs=maybe", "ssl_cert_reqs is one of"),
    ):
        [(path, message)] = state_url_problems(url)
        assert path == "state.url" and named in message, message


def test_replica_acks_name_a_timeout_too_long_and_are_idle_on_memory(tmp_path: Path) -> None:
    def with_state(lines: str) -> Path:
        text = default_config_path().read_text().replace('job_ttl = "7d"\n', lines, 1)
        return config(tmp_path, base=text)

    too_long = check_config(with_state('replica_acks = 1\nreplica_ack_timeout = "2s"\n'), {})
    assert [(p.path, p.warning) for p in too_long.problems] == [
        ("state.replica_ack_timeout", False)
    ]
    idle = check_config(with_state("replica_acks = 1\n"), {})
    assert [(p.path, p.warning) for p in idle.problems] == [("state.replica_acks", True)]
    assert "no effect on memory://" in idle.problems[0].message
