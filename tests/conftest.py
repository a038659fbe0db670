"""Shared fixtures: a real DuckDB file per test and a replay server on 127.0.0.1."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from mail_and_hooks import HookServer, MailServer
from majlis.replay import ReplayServer
from warehouse import Warehouse

FIXTURES = Path(__file__).parent / "fixtures"

# Nothing a test starts may reach beyond 127.0.0.1, through a proxy least of all.
for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

# CI is a gate: the same examples every run, so a submission is judged on its code, not on which
# corner hypothesis happened to visit. Locally examples stay random (and are remembered once
# they fail); MAJLIS_HYPOTHESIS_SCALE=50 searches deeper before a release.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


@pytest.fixture
def replay():
    with ReplayServer() as server:
        yield server


@pytest.fixture
def warehouse(tmp_path):
    with Warehouse.open(tmp_path / "majlis.duckdb") as wh:
        yield wh


@pytest.fixture
def mail():
    """A real SMTP server (aiosmtpd) on 127.0.0.1 keeping what it receives."""
    with MailServer() as server:
        yield server


@pytest.fixture
def hook():
    """A real HTTP webhook endpoint on 127.0.0.1 keeping what it receives."""
    with HookServer() as server:
        yield server
