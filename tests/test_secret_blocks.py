"""Credentials from Prefect Secret blocks: saved through Prefect's own API (its ephemeral
server, in a fresh PREFECT_HOME), named by `secret_block` on a source, and sent on the wire,
with no REDDIT_* or X_BEARER_TOKEN in the environment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from majlis.config import RedditSource, XSource
from connectors import SourceError
from connectors.reddit import load_credentials
from connectors.x import XConnector

pytestmark = pytest.mark.slow  # starts Prefect's ephemeral server (10-30 s)

WORKER = Path(__file__).parent / "secret_block_worker.py"
CREDENTIAL_VARS = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT", "X_BEARER_TOKEN")
REDDIT_VALUE = {"client_id": "block-client-id", "client_secret": "block-client-secret",
                "user_agent": "majlis-test/1 (secret block)"}
X_TOKEN = "block-bearer-token"


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"),
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    return env


def test_sources_read_their_credentials_from_named_secret_blocks(tmp_path):
    result = subprocess.run(
        [sys.executable, str(WORKER), str(tmp_path), "reddit-creds", "x-token", json.dumps(REDDIT_VALUE), X_TOKEN],
        capture_output=True, text=True, env=clean_env(tmp_path), timeout=300,
        cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["loaded"]["r-block"] > 0 and seen["loaded"]["x-block"] > 0
    assert seen["reddit_client_id"] == REDDIT_VALUE["client_id"]
    assert seen["x_authorization"] == f"Bearer {X_TOKEN}"
    for secret in (REDDIT_VALUE["client_secret"], X_TOKEN):
        assert secret not in result.stdout.replace(seen["x_authorization"], "") and secret not in result.stderr


def test_a_missing_secret_block_is_a_clear_error_naming_the_block(tmp_path, monkeypatch):
    for name, value in clean_env(tmp_path).items():
        if name.startswith("PREFECT_"):
            monkeypatch.setenv(name, value)
    reddit = RedditSource(kind="reddit", name="r-none", subreddit="x", secret_block="no-such-block")
    with pytest.raises(SourceError, match="no-such-block"):
        load_credentials(reddit)
    x = XSource(kind="x", name="x-none", query="q", secret_block="no-such-token")
    with pytest.raises(SourceError, match="no-such-token"):
        XConnector(x)._bearer_token()
