"""The demo's Reddit: recorded r/askreddit pages served from the local replay server.

`add_reddit_routes(server, data_dir)` reads `routes.json` in `data_dir` (default: the bundled
`demo_data/reddit`) and serves each page at its API path, both with and without the trailing
slash (praw asks for `r/{sub}/new/`, Reddit answers either). A source pointed at the server
with `base_url = server.base_url` then runs the real connector, token exchange included.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from majlis.replay import ReplayServer

DATA = resources.files("majlis") / "demo_data" / "reddit"
DEMO_SUBREDDIT = "askreddit"
JSON = "application/json; charset=UTF-8"
# What Reddit answers past the last page of a listing.
END_OF_LISTING = json.dumps({"kind": "Listing", "data": {
    "modhash": "", "children": [], "after": None, "before": None}}).encode()


def add_reddit_routes(server: ReplayServer, data_dir: Path | Any = DATA) -> None:
    """Serve the recorded pages listed in `data_dir/routes.json` (a Path or a Traversable)."""
    manifest = json.loads((data_dir / "routes.json").read_text(encoding="utf-8"))
    # The replay server tries later routes first: page-one routes go in before `after=` ones.
    for route in sorted(manifest["routes"], key=lambda r: bool(r.get("query"))):
        body = (data_dir / route["file"]).read_bytes() if route.get("file") else END_OF_LISTING
        for path in both_slash_forms(route["path"]):
            server.add(path, body, method=route["method"], query=route.get("query"), content_type=JSON,
                       headers=route.get("headers"))


def both_slash_forms(path: str) -> tuple[str, ...]:
    bare = path.rstrip("/")
    return (bare, bare + "/") if bare else (path,)
