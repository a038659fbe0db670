"""praw's betamax cassettes, served from a `majlis.replay.ReplayServer` on 127.0.0.1.

A cassette is JSON: `interactions[]` each hold `request` (method, uri, headers) and `response`
(status.code, headers, body.string or body.base64_string). Reddit's hosts (www.reddit.com for
the token, oauth.reddit.com for the API) are dropped: routes answer by method + path + query,
and a source reaches them through `base_url`.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from majlis.demo_reddit import END_OF_LISTING, JSON, add_reddit_routes, both_slash_forms  # noqa: F401
from majlis.replay import ReplayServer, Route

CASSETTES = Path(__file__).parent / "fixtures" / "reddit"
SUBREDDIT = "askreddit"
NEW = "TestSubredditListings.test_new.json"
COMMENTS = "TestSubredditListings.test_comments.json"
ABOUT = "TestRedditor.test_moderated.json"  # holds r/announcements/about
DELETED = "TestComment.test_refresh__deleted_comment.json"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    status: int
    body: bytes

    def json(self):
        return json.loads(self.body)


def load_cassette(name: str) -> list[Recorded]:
    data = json.loads((CASSETTES / name).read_text(encoding="utf-8"))
    out = []
    for interaction in data["interactions"]:
        request, response = interaction["request"], interaction["response"]
        parts = urlsplit(request["uri"])
        body = response["body"]
        raw = (base64.b64decode(body["base64_string"]) if "base64_string" in body
               else body.get("string", "").encode("utf-8"))
        out.append(Recorded(request["method"], parts.path, dict(parse_qsl(parts.query)),
                            response["status"]["code"], raw))
    return out


def recorded(name: str, path_part: str) -> Recorded:
    """The first interaction of a cassette whose path contains `path_part`."""
    return next(r for r in load_cassette(name) if path_part in r.path)


def add_recorded(server: ReplayServer, rec: Recorded, *, path: str | None = None,
                 query: dict[str, str] | None = None) -> list[Route]:
    """Serve one recorded answer at its path (or `path`), with and without the trailing slash."""
    return [server.add(p, rec.body, method=rec.method, status=rec.status, content_type=JSON,
                       query=query) for p in both_slash_forms(path or rec.path)]


def add_token(server: ReplayServer, access_token: str = "recorded-token") -> list[Route]:
    token = recorded(NEW, "/api/v1/access_token").json()
    token["access_token"] = access_token  # praw's recording filtered it to "<ACCESS_TOKEN>"
    body = json.dumps(token).encode()
    # praw asks for "Connection: close" on the token request; a real server says so in its
    # answer, and without that the client may reuse a socket the replay server is closing.
    return [server.add("/api/v1/access_token", body, method="POST", content_type=JSON,
                       headers={"Connection": "close"})]


def add_end_of_listing(server: ReplayServer, listing_path: str, after: str) -> None:
    for p in both_slash_forms(listing_path):
        server.add(p, END_OF_LISTING, query={"after": after}, content_type=JSON)


def serve_subreddit(server: ReplayServer, *, access_token: str = "recorded-token") -> None:
    """r/askreddit as recorded: token, one page of `new`, one of `comments`, then the end; `about`."""
    add_token(server, access_token)
    new_page = recorded(NEW, f"/r/{SUBREDDIT}/new")
    comments_page = recorded(COMMENTS, f"/r/{SUBREDDIT}/comments")
    add_recorded(server, new_page, query={})
    add_recorded(server, comments_page, query={})
    add_end_of_listing(server, f"/r/{SUBREDDIT}/new", new_page.json()["data"]["after"])
    add_end_of_listing(server, f"/r/{SUBREDDIT}/comments", comments_page.json()["data"]["after"])
    add_recorded(server, recorded(ABOUT, "/about"), path=f"/r/{SUBREDDIT}/about/")


def listing_things(name: str, path_part: str) -> list[dict]:
    return [child["data"] for child in recorded(name, path_part).json()["data"]["children"]]


def listing_of(things: list[dict], after: str | None = None) -> bytes:
    """A Listing page around recorded things, shaped as Reddit sends it."""
    children = [{"kind": t["name"][:2], "data": t} for t in things]
    return json.dumps({"kind": "Listing", "data": {
        "modhash": "", "children": children, "after": after, "before": None}}).encode()
