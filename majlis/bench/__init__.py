"""`majlis bench`: a seeded synthetic community and the performance harness that loads it.

`generator` writes the community as the API pages connectors receive (Reddit listing JSON,
X v2 search pages, RSS/WordPress comment feeds); `perf` measures ingest, detect, the no-op
pipeline and connector efficiency, each beside its baseline, in separate processes.
"""
