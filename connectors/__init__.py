"""Connectors: one module per platform, each turning a provider's pages into typed records.

A connector is built from its source's config and yields `Batch`es. A batch holds the raw
pages exactly as fetched, the records normalised from them, and the cursor that is valid once
those rows are stored: the warehouse writes the three in one transaction, so a crash between
batches loses and duplicates nothing.

Connectors never write to the warehouse and never read another source's data.
"""
from connectors._records import ApiRequest, Batch, Member, Post, RawPage, Snapshot, SourceError

__all__ = ["ApiRequest", "Batch", "Member", "Post", "RawPage", "Snapshot", "SourceError", "connector_for"]


def connector_for(source, *, secrets=None):
    """The connector object for one configured source (a `majlis.config.Source`)."""
    if source.kind == "rss":
        from connectors.rss import RssConnector

        return RssConnector(source)
    if source.kind == "reddit":
        from connectors.reddit import RedditConnector

        return RedditConnector(source)
    if source.kind == "x":
        from connectors.x import XConnector

        return XConnector(source)
    raise SourceError(source.name, f"unknown source kind {source.kind!r}")
