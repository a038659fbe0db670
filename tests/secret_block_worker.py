"""Run in its own process (own PREFECT_HOME): save Prefect Secret blocks, then read Reddit and
X through sources that name them, against the demo pages replayed on 127.0.0.1.

Prints one JSON line: rows loaded per source and what the replay server saw on the wire.
"""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from prefect.blocks.system import Secret

from majlis.config import RedditSource, XSource
from majlis.demo import DATA
from majlis.demo_reddit import DEMO_SUBREDDIT, add_reddit_routes
from majlis.demo_x import DEMO_QUERY, SEARCH_PATH, add_x_routes
from majlis.replay import ReplayServer
from connectors.reddit import RedditConnector
from connectors.x import XConnector
from warehouse import Warehouse


def main(workdir: Path, reddit_block: str, x_block: str, reddit_value: str, x_value: str) -> None:
    Secret(value=json.loads(reddit_value)).save(reddit_block, overwrite=True)
    Secret(value=x_value).save(x_block, overwrite=True)
    with ReplayServer() as server, Warehouse.open(workdir / "majlis.duckdb") as wh:
        add_reddit_routes(server, DATA / "reddit")
        add_x_routes(server, DATA / "x")
        reddit = RedditSource(kind="reddit", name="r-block", subreddit=DEMO_SUBREDDIT,
                              base_url=server.base_url, secret_block=reddit_block)
        x = XSource(kind="x", name="x-block", query=DEMO_QUERY, base_url=server.base_url,
                    secret_block=x_block, max_posts_per_month=10000)
        loaded = {}
        for source, connector in ((reddit, RedditConnector(reddit)), (x, XConnector(x))):
            for batch in connector.fetch(wh.cursor(source.name)):
                wh.write_batch(batch)
            loaded[source.name] = wh.query("select count(*) as n from posts where source = $s",
                                           {"s": source.name})[0]["n"]
        token_auth = server.requests_to("/api/v1/access_token")[0].headers["Authorization"]
        basic_user = base64.b64decode(token_auth.split()[1]).decode().split(":")[0]
        x_auth = server.requests_to(SEARCH_PATH)[0].headers["Authorization"]
    print(json.dumps({"loaded": loaded, "reddit_client_id": basic_user, "x_authorization": x_auth}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), *sys.argv[2:6])
