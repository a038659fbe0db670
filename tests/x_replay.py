"""Serving recorded X API v2 pages to tweepy from the replay server, for tests/test_x.py.

Every page body is a recorded response, byte for byte (tests/fixtures/x_v2, tests/fixtures/x).
Two things are built here, because nothing recorded has them, and they are marked where made:
the end of a page chain (`{"meta": {"result_count": 0}}`, what X sends when nothing is left)
and a user lookup by username (`{"data": <recorded user object>}` around a user taken from a
recorded page's `includes.users`). The x-rate-limit-* headers are added too: twarc kept none.
"""
from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import yaml

from connectors.x import XConnector
from connectors.x_client import RetryPolicy
from majlis.config import XSource
from majlis.replay import Reply

FIXTURES = Path(__file__).parent / "fixtures"
X_V2 = FIXTURES / "x_v2"
SEARCH = "/2/tweets/search/recent"
SEARCH_PAGE_1 = "twarc-network__tweets.line1.jsonl"
SEARCH_PAGE_2 = "twarc-network__tweets.line2.jsonl"
TIMELINE_PAGE = "tidy_tweet__ObservatoryTeam.line3.jsonl"  # the account's last page
ACCOUNT = "ObservatoryTeam"
ACCOUNT_ID = "1022360009961656321"
CHAIN_END = b'{"meta":{"result_count":0}}'  # built: what X answers when no post is left

# Tests must not wait: retries a few milliseconds apart, rate-limit waits capped at 50 ms.
FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_wait_s=0.05)
JSON = "application/json; charset=utf-8"


def page_bytes(name: str) -> bytes:
    """One recorded response exactly as stored (one line of a JSON-lines file)."""
    return (X_V2 / name).read_bytes()


def page(name: str) -> dict:
    return json.loads(page_bytes(name))


def rate_headers(remaining: int = 449, reset_in_s: int = 900) -> dict[str, str]:
    return {"content-type": JSON, "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(time.time()) + reset_in_s)}


def ok(body: bytes, **headers) -> Reply:
    return Reply(200, body, {**rate_headers(), **headers})


def serve_search_chain(server) -> tuple[dict, dict]:
    """Page 1 for any first request, page 2 for page 1's next_token, then the end; a request
    with since_id = page 1's newest_id (a second run) gets the empty answer too."""
    first, second = page(SEARCH_PAGE_1), page(SEARCH_PAGE_2)
    server.add(SEARCH, page_bytes(SEARCH_PAGE_1), headers=rate_headers())
    server.add(SEARCH, page_bytes(SEARCH_PAGE_2), headers=rate_headers(448),
               query={"next_token": first["meta"]["next_token"]})
    server.add(SEARCH, CHAIN_END, headers=rate_headers(447),
               query={"next_token": second["meta"]["next_token"]})
    server.add(SEARCH, CHAIN_END, headers=rate_headers(446),
               query={"since_id": first["meta"]["newest_id"]})
    return first, second


def serve_single_page(server, name: str) -> dict:
    """A recorded response with no next_token (a lookup, or a last page) as the search answer."""
    server.add(SEARCH, page_bytes(name), headers=rate_headers())
    return page(name)


def account_user() -> dict:
    timeline = page(TIMELINE_PAGE)
    return next(u for u in timeline["includes"]["users"] if u["id"] == ACCOUNT_ID)


def tweepy_mentions_body() -> bytes:
    """tweepy's recorded /2/users/:id/mentions answer (default fields only), un-gzipped."""
    cassette = yaml.safe_load((FIXTURES / "x" / "test_client_get_users_mentions.yaml").read_text())
    return gzip.decompress(cassette["interactions"][0]["response"]["body"]["string"])


def serve_account(server) -> None:
    lookup = json.dumps({"data": account_user()}).encode()  # built around a recorded user
    server.add(f"/2/users/by/username/{ACCOUNT}", lookup, headers=rate_headers(299))
    server.add(f"/2/users/{ACCOUNT_ID}/tweets", page_bytes(TIMELINE_PAGE), headers=rate_headers(1499))
    mentions = tweepy_mentions_body()
    server.add(f"/2/users/{ACCOUNT_ID}/mentions", mentions, headers=rate_headers(448))
    server.add(f"/2/users/{ACCOUNT_ID}/mentions", CHAIN_END, headers=rate_headers(447),
               query={"pagination_token": json.loads(mentions)["meta"]["next_token"]})


def x_source(server, **settings) -> XSource:
    values = {"kind": "x", "name": "x-test", "query": "blacklivesmatter",
              "base_url": server.base_url, "timeout_s": 2.0}
    values.update(settings)
    return XSource(**values)


def connector(server, **settings) -> XConnector:
    return XConnector(x_source(server, **settings), retry=FAST)


def load(conn: XConnector, warehouse, source_name: str = "x-test") -> list:
    """One run as a flow does it: each batch stored as it comes, from the stored cursor."""
    batches = []
    for batch in conn.fetch(warehouse.cursor(source_name)):
        warehouse.write_batch(batch)
        batches.append(batch)
    return batches
