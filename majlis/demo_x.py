"""The demo's X source: two recorded pages of a recent search, served on 127.0.0.1.

The pages in demo_data/x/ are real X API v2 responses (a `blacklivesmatter` search of
2021-06-26 recorded by DocNow/twarc-network's test suite, MIT, licence beside them), byte for
byte: 200 posts with replies and their parents, Arabic posts, and suspended accounts in
`errors[]`. They carry twarc's extra `__twarc` key, which X itself never sends.

Only the end of the chain is made here: X answers `{"meta":{"result_count":0}}` when no post is
left, both after the last page and for a later run's `since_id`, so a second demo run reads
nothing twice, as against the real API.
"""
from __future__ import annotations

import json
import time

from majlis.replay import ReplayServer

SEARCH_PATH = "/2/tweets/search/recent"
DEMO_QUERY = "blacklivesmatter"  # what the recorded pages answered
DEMO_BEARER_TOKEN = "demo-token-not-a-secret"  # the replay server accepts any token
PAGES = ("twarc-network__tweets.line1.jsonl", "twarc-network__tweets.line2.jsonl")
NOTHING_LEFT = b'{"meta":{"result_count":0}}'


def add_x_routes(server: ReplayServer, data_dir) -> None:
    """Serve the recorded search chain. `data_dir` is demo_data (or its x/ folder itself)."""
    folder = data_dir / "x"
    if not folder.is_dir():
        folder = data_dir
    bodies = [(folder / name).read_bytes() for name in PAGES]
    metas = [json.loads(body)["meta"] for body in bodies]
    # Later routes win, so the first page answers only what nothing more specific matches.
    server.add(SEARCH_PATH, bodies[0], headers=_rate_headers(449))
    for body, previous, remaining in zip(bodies[1:], metas, range(448, 0, -1)):
        server.add(SEARCH_PATH, body, headers=_rate_headers(remaining),
                   query={"next_token": previous["next_token"]})
    if metas[-1].get("next_token"):
        server.add(SEARCH_PATH, NOTHING_LEFT, headers=_rate_headers(440),
                   query={"next_token": metas[-1]["next_token"]})
    server.add(SEARCH_PATH, NOTHING_LEFT, headers=_rate_headers(440),
               query={"since_id": metas[0]["newest_id"]})


def demo_source_toml(base_url: str, name: str = "x-demo") -> str:
    """The `[[sources]]` table for the demo config (X_BEARER_TOKEN must be set, to anything)."""
    return (f'[[sources]]\nkind = "x"\nname = "{name}"\nquery = "{DEMO_QUERY}"\n'
            f'base_url = "{base_url}"\nmax_posts_per_month = 10000\n')


def _rate_headers(remaining: int) -> dict[str, str]:
    # twarc kept no headers; X sends these on every answer.
    return {"Content-Type": "application/json; charset=utf-8", "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(time.time()) + 900)}


__all__ = ["DEMO_BEARER_TOKEN", "DEMO_QUERY", "add_x_routes", "demo_source_toml"]
