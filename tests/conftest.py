"""Shared fixtures: a real DuckDB file per test and a replay server on 127.0.0.1."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mail_and_hooks import HookServer, MailServer
from majlis.replay import ReplayServer
from warehouse import Warehouse

FIXTURES = Path(__file__).parent / "fixtures"

# Nothing a test starts may reach beyond 127.0.0.1, through a proxy least of all.
for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


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
