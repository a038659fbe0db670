"""The outbox: every notification is a `deliveries` row before it is sent.

One code path for every channel: each of a manager's apprise URLs (`notify` for tasks,
`escalate_to` for escalations) is one delivery of one task. A run

1. queues a row for every (task, channel) that needs one, committed before anything is
   sent (`delivery_id` is a fingerprint of task, kind, manager and channel, so queueing
   twice is a no-op);
2. sends every queued row whose `next_attempt_at` has come, one apprise call per row, and
   checks `bool()` of apprise's result;
3. marks the row `sent` on success; on failure it stays `queued` with `attempts + 1`, a
   redacted `last_error` and a `next_attempt_at` that backs off (5 min, 10, 20, ... 6 h).

Guarantee: **at least once**. A row is marked sent only after the channel accepted the
message, so a crash (or kill) between the send and the mark leaves the row queued and the
next run sends that one message again: a manager may, rarely, see a duplicate; a message
is never lost. Outside that window nothing is sent twice, because a sent row is never sent
again and re-running queues nothing new. (At-most-once would need the opposite order and
could lose a notification in the same crash; for a task list a duplicate is the lesser harm.)

Secrets: apprise URLs carry passwords and tokens. The URL itself is never stored or logged;
`channel` is a label with the scheme and the network host only (`mailto://smtp.example.org`),
or `scheme://~hash` where the "host" of the URL is itself a token (Slack, Discord,
Telegram, ntfy topics). Errors captured from apprise are scrubbed of every part of the URL
before they are stored. Retries find the URL again by recomputing delivery ids from the
current config; a channel removed from the config cancels its queued rows.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise
import pyarrow as pa

from dispatch.messages import channel_kind, render
from dispatch.tasks import list_tasks
from majlis.config import Config, Manager
from warehouse import Warehouse, utc_naive

log = logging.getLogger("majlis.dispatch")

FIRST_RETRY = timedelta(minutes=5)
MAX_RETRY = timedelta(hours=6)
ERROR_CHARS = 300


@dataclass(frozen=True)
class Channel:
    delivery_id: str
    task_id: str
    kind: str  # notify | escalation
    assignee: str
    label: str  # safe to store and show
    url: str  # secret: never stored, never logged


@dataclass
class DeliveryReport:
    queued: int = 0  # rows written this run
    sent: int = 0
    failed: int = 0  # attempts that failed this run (the rows stay queued)
    pending: int = 0  # rows still queued after this run
    cancelled: int = 0
    notified: list[str] = field(default_factory=list)  # tasks that became notified
    escalated: list[str] = field(default_factory=list)
    unassigned: list[dict] = field(default_factory=list)  # open tasks nobody can be told of


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def _is_network_host(host: str) -> bool:
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host == "localhost" or bool(re.fullmatch(r"(?:[a-z0-9-]+\.)+[a-z]{2,63}", host, re.I))


def channel_label(url: str) -> str:
    """`scheme://host[:port]` without user, password, path or query; or `scheme://~hash`."""
    scheme, _, rest = url.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    host, _, port = netloc.partition(":") if not netloc.startswith("[") else (netloc, "", "")
    if _is_network_host(host) and (not port or port.isdigit()):
        return f"{scheme.lower()}://{netloc.lower()}"
    return f"{scheme.lower()}://~{hashlib.sha256(url.encode()).hexdigest()[:8]}"


def url_secrets(url: str) -> list[str]:
    """Every piece of an apprise URL that might be a secret, longest first."""
    parts = urlsplit(url)
    pieces = {url, parts.netloc, parts.path, parts.query}
    userinfo = parts.netloc.rpartition("@")[0]
    pieces.update(userinfo.split(":"))
    pieces.update(seg for seg in parts.path.split("/"))
    host = parts.netloc.rsplit("@", 1)[-1]
    if channel_label(url).split("://", 1)[1].startswith("~"):
        pieces.update(host.split(":"))
    for _, value in parse_qsl(parts.query, keep_blank_values=True):
        pieces.add(value)
    with_decoded = pieces | {unquote(p) for p in pieces}
    return sorted((p for p in with_decoded if len(p) >= 4), key=len, reverse=True)


def _mask(text: str, url: str) -> str:
    for secret in url_secrets(url):
        text = text.replace(secret, "****")
    return text


def redact(text: str, url: str) -> str:
    """An error message fit to store: no part of the URL that could be a secret, short."""
    return _mask(text, url)[:ERROR_CHARS]


def channels_for(task_id: str, kind: str, manager: Manager) -> list[Channel]:
    urls = manager.escalate_to if kind == "escalation" else manager.notify
    out, seen = [], {}
    for url in urls:
        label = channel_label(url)
        n = seen[label] = seen.get(label, -1) + 1  # two URLs on one host stay two channels
        out.append(Channel(_digest(task_id, kind, manager.name, label, str(n)),
                           task_id, kind, manager.name, label, url))
    return out


def _managers(config: Config) -> dict[str, Manager]:
    return {m.name: m for m in config.managers}


QUEUE_SCHEMA = pa.schema([
    ("delivery_id", pa.string()), ("task_id", pa.string()), ("assignee", pa.string()),
    ("channel", pa.string()), ("kind", pa.string()),
])


def _queue(wh: Warehouse, channels: list[Channel], now: datetime) -> int:
    """Write queued rows for channels that have none; returns how many were new."""
    if not channels:
        return 0
    rows = [{"delivery_id": c.delivery_id, "task_id": c.task_id, "assignee": c.assignee,
             "channel": c.label, "kind": c.kind} for c in channels]
    wh.con.register("incoming_deliveries", pa.Table.from_pylist(rows, schema=QUEUE_SCHEMA))
    try:
        (new,) = wh.con.execute(
            "select count(*) from incoming_deliveries"
            " where delivery_id not in (select delivery_id from deliveries)"
        ).fetchone()
        wh.con.execute(
            """
            insert into deliveries (delivery_id, task_id, assignee, channel, status, queued_at,
                                    attempts, kind, next_attempt_at)
            select delivery_id, task_id, assignee, channel, 'queued', $now, 0, kind, $now
            from incoming_deliveries
            on conflict (delivery_id) do nothing
            """,
            {"now": now},
        )
    finally:
        wh.con.unregister("incoming_deliveries")
    return int(new)


def queue_notifications(wh: Warehouse, config: Config, now: datetime, report: DeliveryReport) -> None:
    managers = _managers(config)
    channels: list[Channel] = []
    for task in list_tasks(wh, status="open"):
        manager = managers.get(task["assignee"] or "")
        if manager is None or not manager.notify:
            report.unassigned.append(task)
            log.warning("task %s (%s) has no manager with a notify channel; kept open",
                        task["task_id"], task["rule"])
            continue
        channels += channels_for(task["task_id"], "notify", manager)
    report.queued += _queue(wh, channels, now)


def escalate(wh: Warehouse, config: Config, now: datetime, report: DeliveryReport) -> None:
    """Queue one escalation per task not acknowledged by its due time (or snooze end)."""
    now = utc_naive(now)
    managers = _managers(config)
    due = wh.query(
        """
        select task_id, assignee from tasks
        where status in ('open', 'notified') and escalated_at is null and due_at is not null
          and greatest(due_at, coalesce(snoozed_until, due_at)) <= $now
        order by due_at, task_id
        """,
        {"now": now},
    )
    for task in due:
        manager = managers.get(task["assignee"] or "")
        if manager is None or not manager.escalate_to:
            continue  # nobody to escalate to: the task stays where it is, still listed
        report.queued += _queue(wh, channels_for(task["task_id"], "escalation", manager), now)
        wh.con.execute(
            "update tasks set status = 'escalated', escalated_at = $now where task_id = $id",
            {"now": now, "id": task["task_id"]},
        )
        report.escalated.append(task["task_id"])
        log.info("task %s escalated (assigned to %s)", task["task_id"], task["assignee"])


def _backoff(attempts: int) -> timedelta:
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY)


class _Scrub(logging.Filter):
    """Rewrites a record's message with the URL's secrets masked, before any handler sees it.

    apprise masks passwords in what it logs but not tokens in paths, query values or
    custom headers, and urllib3 logs the request path at DEBUG; both reach whatever
    handlers the host process (Prefect, a CLI) has installed.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = _mask(message, self.url)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


# Loggers that see the URL while apprise sends (filters do not reach child loggers).
CHATTY_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.util.retry", "requests")


def send(url: str, title: str, body: str) -> tuple[bool, str]:
    """One message to one apprise URL; returns (accepted, what apprise said when it failed)."""
    scrub = _Scrub(url)
    loggers = [logging.getLogger(name) for name in CHATTY_LOGGERS]
    for logger in loggers:
        logger.addFilter(scrub)
    try:
        notifier = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
        if not notifier.add(url):
            return False, "apprise cannot use this URL; check its syntax for the service"
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            result = notifier.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
        said = " ".join(captured.getvalue().split())
    finally:
        for logger in loggers:
            logger.removeFilter(scrub)
    return bool(result), said or "the channel did not accept the message"


def _mark(wh: Warehouse, delivery: dict, ok: bool, error: str, now: datetime) -> None:
    if ok:
        wh.con.execute(
            "update deliveries set status = 'sent', sent_at = $now, last_error = null,"
            " next_attempt_at = null where delivery_id = $id",
            {"now": now, "id": delivery["delivery_id"]},
        )
        return
    attempts = delivery["attempts"] + 1
    wh.con.execute(
        "update deliveries set attempts = $attempts, last_error = $error,"
        " next_attempt_at = $next where delivery_id = $id",
        {"attempts": attempts, "error": error, "next": now + _backoff(attempts),
         "id": delivery["delivery_id"]},
    )


def _cancel(wh: Warehouse, delivery_id: str, why: str) -> None:
    wh.con.execute(
        "update deliveries set status = 'cancelled', last_error = $why, next_attempt_at = null"
        " where delivery_id = $id",
        {"why": why, "id": delivery_id},
    )


def send_queued(wh: Warehouse, config: Config, now: datetime, report: DeliveryReport) -> None:
    managers = _managers(config)
    due = wh.query(
        """
        select d.delivery_id, d.kind, d.assignee, d.channel, d.attempts, t.status as task_status,
               t.task_id, t.rule, t.goal, t.source, t.severity, t.summary, t.url, t.excerpt,
               t.due_at
        from deliveries d join tasks t using (task_id)
        where d.status = 'queued' and coalesce(d.next_attempt_at, d.queued_at) <= $now
        order by d.queued_at, d.task_id, d.kind, d.channel
        """,
        {"now": now},
    )
    for row in due:
        if row["task_status"] in ("resolved", "expired") or (
            row["kind"] == "notify" and row["task_status"] == "acknowledged"
        ):
            _cancel(wh, row["delivery_id"], f"task {row['task_status']} before delivery")
            report.cancelled += 1
            continue
        manager = managers.get(row["assignee"])
        channel = next(
            (c for c in (channels_for(row["task_id"], row["kind"], manager) if manager else [])
             if c.delivery_id == row["delivery_id"]), None,
        )
        if channel is None:
            _cancel(wh, row["delivery_id"], "channel no longer in the config")
            report.cancelled += 1
            continue
        message = render(row, row["kind"], channel_kind(channel.url))
        ok, said = send(channel.url, message.title, message.body)
        _mark(wh, row, ok, "" if ok else redact(said, channel.url), now)
        if ok:
            report.sent += 1
            log.info("sent %s of task %s to %s (%s)", row["kind"], row["task_id"],
                     row["assignee"], channel.label)
        else:
            report.failed += 1
            log.warning("could not send %s of task %s to %s (%s); queued for retry",
                        row["kind"], row["task_id"], row["assignee"], channel.label)


def mark_notified(wh: Warehouse, now: datetime) -> list[str]:
    """Open tasks with every notify delivery done (and at least one sent) are notified."""
    rows = wh.con.execute(
        """
        update tasks set status = 'notified', notified_at = $now
        where status = 'open'
          and task_id in (select task_id from deliveries where kind = 'notify' and status = 'sent')
          and task_id not in (select task_id from deliveries where kind = 'notify' and status = 'queued')
        returning task_id
        """,
        {"now": now},
    ).fetchall()
    return sorted(task_id for (task_id,) in rows)


def deliver(wh: Warehouse, config: Config, now: datetime) -> DeliveryReport:
    """Queue what needs sending, escalate what is overdue, send what is due, record it all."""
    now = utc_naive(now)
    report = DeliveryReport()
    queue_notifications(wh, config, now, report)
    escalate(wh, config, now, report)
    send_queued(wh, config, now, report)
    report.notified = mark_notified(wh, now)
    report.pending = wh.con.execute(
        "select count(*) from deliveries where status = 'queued'"
    ).fetchone()[0]
    return report
