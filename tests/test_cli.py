"""The CLI as users run it: `keys create`, `config check`, and `serve` as a real process."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from PIL import Image

from gateway.auth import key_hash
from gateway.settings import default_config_path
from tests.processes import IMAGEGATE, cli_env
from tests.servers import free_port, wait_for_port

KEY_LINE = re.compile(r"^\s+(ig_\S+)$", re.MULTILINE)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMAGEGATE, *args], capture_output=True, text=True, cwd=cwd, env=cli_env(), timeout=60
    )


def test_keys_create_prints_a_key_and_its_hash() -> None:
    result = run_cli("keys", "create", "--tenant", "acme")
    assert result.returncode == 0
    key = KEY_LINE.search(result.stdout)
    assert key is not None
    assert f'"{key_hash(key.group(1))}"' in result.stdout
    assert "[tenants.acme]" in result.stdout


def test_config_check_accepts_the_default_and_names_problems(tmp_path: Path) -> None:
    good = run_cli("config", "check", str(default_config_path()))
    assert good.returncode == 0 and "ok" in good.stdout
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text(
        default_config_path().read_text().replace("max_attempts = 3", 'max_attempts = "three"')
    )
    bad = run_cli("config", "check", str(bad_file))
    assert bad.returncode != 0
    assert "retry.max_attempts" in bad.stderr


def test_config_check_validates_backend_options_by_their_type(tmp_path: Path) -> None:
    bad_file = tmp_path / "options.toml"
    bad_file.write_text(
        default_config_path().read_text()
        + '\n[backends.flux]\ntype = "replicate"\napi_key_env = "NOT_NEEDED_FOR_CHECK"\n'
        + 'options = { poll_interval = "often" }\n'
    )
    bad = run_cli("config", "check", str(bad_file))
    assert bad.returncode != 0
    assert "backends.flux.options.poll_interval" in bad.stderr


@contextmanager
def serving(cwd: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    """`imagegate serve --port PORT` in `cwd`, exactly as the README starts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGATE_")}
    process = subprocess.Popen(
        [*IMAGEGATE, "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, timeout=30)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
        # uvicorn shuts down gracefully, then re-raises the signal it caught (exit -15).
        assert "Application shutdown complete" in rest, rest


def first_key(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "listening on" in line:
            break
    match = KEY_LINE.search("".join(lines))
    assert match is not None, "".join(lines)
    return match.group(1)


def complete_job(base: str, key: str) -> dict:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        accepted = http.post(
            "/images/jobs", headers=headers, json={"prompt": "a tiny robot", "size": "768x1024"}
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["data"]["jobId"]
        deadline = time.monotonic() + 30
        while True:
            job = http.get(f"/images/jobs/{job_id}", headers=headers).json()["data"]
            if job["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert job["status"] == "SUCCEEDED", job
        image = http.get(job["imageUrl"])
        assert image.status_code == 200
        picture = Image.open(io.BytesIO(image.content))
        picture.load()
        assert picture.format == "PNG" and picture.size == (768, 1024)
        return job


def test_serve_on_the_embedded_default_completes_a_job_over_http(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(tmp_path, port) as process:
        key = first_key(process)
        job = complete_job(base, key)
        assert job["imageUrl"].startswith(f"{base}/files/")
    assert (tmp_path / "data" / "keys" / "demo.sha256").read_text().strip() == key_hash(key)
    assert list((tmp_path / "data" / "images").rglob("*.png"))

    # A restart keeps the generated key working and does not print a new one.
    with serving(tmp_path, port) as process:
        assert process.stdout is not None
        banner = process.stdout.readline() + process.stdout.readline()
        assert "ig_" not in banner
        complete_job(base, key)


def test_serve_names_a_missing_vendor_key_and_stops(tmp_path: Path) -> None:
    config = tmp_path / "vendor.toml"
    config.write_text(
        default_config_path().read_text()
        + '\n[backends.openai]\ntype = "openai"\napi_key_env = "IMAGEGATE_TEST_ABSENT_KEY"\n'
    )
    result = run_cli("serve", "--config", str(config), "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode != 0
    assert "IMAGEGATE_TEST_ABSENT_KEY" in result.stderr
    assert "Traceback" not in result.stderr
