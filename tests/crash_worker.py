"""The process the crash tests kill: ingest (connector -> Warehouse.write_batch) or dispatch.

Run as `python tests/crash_worker.py` it is a fork server. It imports the whole stack and
loads lingua's Latin-script models once (~4 s), then reads one JSON command per line on stdin
and runs each in a forked child, so a test can start and SIGKILL twenty real processes for
the price of one start-up. Every line it writes is JSON:

    {"child": pid}            a child was forked for the command just read
    {"wrote": n}              the child committed its n-th batch (ingest)
    {"done": true}            the child finished its command
    {"exit": pid, "code": c}  the child ended; c < 0 is the signal that killed it

Commands: {"op": "ingest", "db": path, "source": {...RssSource/RedditSource/XSource...}} and
{"op": "dispatch", "db": path, "config": {...majlis.toml as JSON...}, "now": iso}.

Why no Prefect: a flow run without a server starts a temporary one in another process,
which survives a SIGKILL of the flow's process (see /work/shared/FACTS.md). The loop in
`ingest` is the one flows/ingest.py runs: resume from the stored cursor, store each batch as
it comes. Why warm lingua with one single-text call before forking: that loads the models
without starting rayon's thread pool, which a forked child could not use.

The test process imports `make_connector` and `ingest` from here, so an uninterrupted run
and the re-run after a kill go through exactly the code the killed child ran.
"""
from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # run as a script: the project root must be importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.reddit import RedditConnector  # noqa: E402
from connectors.rss import RssConnector  # noqa: E402
from connectors.x import XConnector  # noqa: E402
from connectors.x_client import RetryPolicy  # noqa: E402
from majlis.config import RedditSource, RssSource, XSource, parse_config  # noqa: E402
from warehouse import Warehouse  # noqa: E402

# Retries a few milliseconds apart: faults are tested, waits are not.
FAST_DELAYS_S = (0.01, 0.01, 0.01)
X_FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_wait_s=0.05)
SOURCE_MODELS = {"rss": RssSource, "reddit": RedditSource, "x": XSource}


def make_source(settings: dict):
    return SOURCE_MODELS[settings["kind"]](**settings)


def make_connector(source):
    """The source's connector with its retry knobs turned down to milliseconds."""
    if source.kind == "rss":
        return RssConnector(source, backoff_s=0.01, retry_after_cap_s=0.05)
    if source.kind == "reddit":
        return RedditConnector(source, retry_delays_s=FAST_DELAYS_S, sleep=time.sleep)
    return XConnector(source, retry=X_FAST)


def ingest(wh: Warehouse, source, on_batch: Callable[[object], None] = lambda batch: None) -> list:
    """One run as flows/ingest.py does it: from the stored cursor, each batch committed as it comes."""
    batches = []
    for batch in make_connector(source).fetch(wh.cursor(source.name)):
        wh.write_batch(batch)
        batches.append(batch)
        on_batch(batch)
    return batches


def _say(**message) -> None:
    # os.write, not print: nothing may sit in a buffer that a fork would copy.
    os.write(1, (json.dumps(message) + "\n").encode())


def _run_ingest(command: dict) -> None:
    source = make_source(command["source"])
    written = 0

    def progress(_batch) -> None:
        nonlocal written
        written += 1
        _say(wrote=written)

    with Warehouse.open(command["db"]) as wh:
        ingest(wh, source, progress)


def _run_dispatch(command: dict) -> None:
    from dispatch import deliver

    with Warehouse.open(command["db"]) as wh:
        deliver(wh, parse_config(command["config"]), datetime.fromisoformat(command["now"]))


def _child(command: dict) -> None:
    code = 0
    try:
        {"ingest": _run_ingest, "dispatch": _run_dispatch}[command["op"]](command)
        _say(done=True)
    except BaseException as err:  # noqa: BLE001 - the test reads this line, then fails
        _say(error=f"{type(err).__name__}: {err}")
        code = 1
    os._exit(code)


def _warm_up() -> None:
    import apprise  # noqa: F401 - dispatch's heavy import, paid once
    from majlis.text import _language_detector

    detector = _language_detector()
    for text in ("How do I reset my password, can anyone help me",
                 "Comment puis-je changer mon mot de passe s'il vous plait"):
        detector.detect_language_of(text)


def serve() -> None:
    _warm_up()
    _say(ready=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(command)
        _say(child=pid)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        _say(exit=pid, code=code)


if __name__ == "__main__":
    serve()
