"""The outbox: every notification is a `deliveries` row before it is sent.

One code path for every channel: each of a manager's apprise URLs (`notify` for tasks and
digests, `escalate_to` for escalations) gets one delivery row per message. A row covers
the tasks in `task_ids`: one task for `notify` and `escalation`, every task it lists for a
`digest` (see `dispatch.modes` for when a manager gets digests and quiet hours). A run

1. queues a row for every (task, channel) that is to be sent on its own, and a digest row
   per channel for every manager whose digest period came due with tasks to list; rows
   are committed before anything is sent (`delivery_id` is a fingerprint of task or
   period, kind, manager and channel, so queueing twice is a no-op);
2. sends every queued row whose `next_attempt_at` has come, one apprise call per row, and
   checks `bool()` of apprise's result; a row that falls in its manager's quiet hours is
   not sent: its `next_attempt_at` moves to the end of them (no attempt is counted);
3. marks the row `sent` on success; on failure it stays `queued` with `attempts + 1`, a
   redacted `last_error` and a `next_attempt_at` that backs off (5 min, 10, 20, ... 6 h).

Guarantee: **at least once**. A row is marked sent only after the channel accepted the
message, so a crash (or kill) between the send and the mark leaves the row queued and the
next run sends that one message again: a manager may, rarely, see a duplicate; a message
is never lost. A digest is one row, so such a crash repeats at most that one digest, with
the same tasks listed (a task done in between is left out). Outside that window nothing
is sent twice, because a sent row is never sent again, re-running queues nothing new and a
task in a digest row is never put in another digest. (At-most-once would need the opposite
order and could lose a notification in the same crash; for a task list a duplicate is the
lesser harm.)

Escalation waits for the manager to have been told: a task still waiting for its digest,
or whose notification is held by quiet hours, does not escalate; and its deadline moves by
as long as the notification was held (the SLA counts from when the manager could know).
A task whose notification keeps failing escalates at its due time, as it should.

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

from dispatch.messages import channel_kind, render, render_digest
from dispatch.modes import digest_due, is_immediate, may_send_now
from dispatch.tasks import list_tasks
from majlis.config import Config, Manager
from warehouse import Warehouse, utc_naive

log = logging.getLogger("majlis.dispatch")

FIRST_RETRY = timedelta(minutes=5)
MAX_RETRY = timedelta(hours=6)
ERROR_CHARS = 300


NOTIFYING = ("notify", "digest")  # the kinds that tell the assignee
UNTOLD = ("resolved", "expired", "acknowledged")  # tasks no notify or digest is sent for


@dataclass(frozen=True)
class Channel:
    delivery_id: str
    key: str  # the task id, or `digest:<period start>` for a digest
    kind: str  # notify | escalation | digest
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
    held: int = 0  # rows that waited out quiet hours this run (not attempts)
    digests: int = 0  # digest messages sent this run (also counted in `sent`)
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


def channels_for(key: str, kind: str, manager: Manager) -> list[Channel]:
    urls = manager.escalate_to if kind == "escalation" else manager.notify
    out, seen = [], {}
    for url in urls:
        label = channel_label(url)
        n = seen[label] = seen.get(label, -1) + 1  # two URLs on one host stay two channels
        out.append(Channel(_digest(key, kind, manager.name, label, str(n)),
                           key, kind, manager.name, label, url))
    return out


def digest_key(period_start: datetime) -> str:
    return f"digest:{period_start.isoformat()}"


def _managers(config: Config) -> dict[str, Manager]:
    return {m.name: m for m in config.managers}


QUEUE_SCHEMA = pa.schema([
    ("delivery_id", pa.string()), ("task_id", pa.string()), ("assignee", pa.string()),
    ("channel", pa.string()), ("kind", pa.string()), ("task_ids", pa.list_(pa.string())),
    ("period_start", pa.timestamp("us")),
])


def _queue(wh: Warehouse, channels: list[Channel], now: datetime,
           task_ids: list[str] | None = None, period_start: datetime | None = None) -> int:
    """Write queued rows for channels that have none; returns how many were new.

    A row covers its channel's task (`task_ids` None), or the digest's `task_ids`.
    """
    if not channels:
        return 0
    rows = [{"delivery_id": c.delivery_id, "assignee": c.assignee, "channel": c.label,
             "kind": c.kind, "task_id": None if task_ids else c.key,
             "task_ids": task_ids or [c.key], "period_start": period_start}
            for c in channels]
    wh.con.register("incoming_deliveries", pa.Table.from_pylist(rows, schema=QUEUE_SCHEMA))
    try:
        (new,) = wh.con.execute(
            "select count(*) from incoming_deliveries"
            " where delivery_id not in (select delivery_id from deliveries)"
        ).fetchone()
        wh.con.execute(
            """
            insert into deliveries (delivery_id, task_id, assignee, channel, status, queued_at,
                                    attempts, kind, next_attempt_at, task_ids, period_start)
            select delivery_id, task_id, assignee, channel, 'queued', $now, 0, kind, $now,
                   task_ids, period_start
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
        if is_immediate(manager, task["severity"]):
            channels += channels_for(task["task_id"], "notify", manager)
    report.queued += _queue(wh, channels, now)


def _covered(wh: Warehouse, statuses: tuple[str, ...], fresh_only: bool = False) -> set[str]:
    """Tasks covered by a notify or digest row in one of `statuses` (never tried, if fresh)."""
    rows = wh.con.execute(
        """
        select distinct unnest(task_ids) from deliveries
        where kind in (select unnest($kinds)) and status in (select unnest($statuses))
          and (not $fresh or attempts = 0)
        """,
        {"kinds": list(NOTIFYING), "statuses": list(statuses), "fresh": fresh_only},
    ).fetchall()
    return {task_id for (task_id,) in rows}


def queue_digests(wh: Warehouse, config: Config, now: datetime, report: DeliveryReport) -> None:
    """For each digest manager whose period came due: one row per channel listing its new tasks."""
    for manager in config.managers:
        due = digest_due(manager, now)
        if due is None or not manager.notify:
            continue
        pending = wh.query(
            """
            select task_id from tasks
            where assignee = $name and status = 'open' and created_at <= $due
              and not list_contains($immediate, coalesce(severity, ''))
              and task_id not in (
                  select unnest(task_ids) from deliveries
                  where kind in (select unnest($kinds)) and status <> 'cancelled')
            order by created_at, task_id
            """,
            {"name": manager.name, "due": due, "immediate": list(manager.immediate) or [""],
             "kinds": list(NOTIFYING)},
        )
        if pending:
            task_ids = [r["task_id"] for r in pending]
            channels = channels_for(digest_key(due), "digest", manager)
            report.queued += _queue(wh, channels, now, task_ids=task_ids, period_start=due)


def _waiting_to_be_told(task: dict, manager: Manager, held: set[str], covered: set[str]) -> bool:
    """The manager has not been told yet, by design (digest, quiet hours, first try to come)."""
    if task["status"] != "open":
        return False
    if task["task_id"] in held:
        return True
    return (task["task_id"] not in covered and bool(manager.notify)
            and not is_immediate(manager, task["severity"]))


def escalate(wh: Warehouse, config: Config, now: datetime, report: DeliveryReport) -> None:
    """Queue one escalation per task not acknowledged by its deadline.

    The deadline is the due time, or the snooze's end, moved on by however long the
    notification took (a digest, quiet hours, retries): `due_at + (notified_at - created_at)`.
    """
    now = utc_naive(now)
    managers = _managers(config)
    due = wh.query(
        """
        select task_id, assignee, status, severity from tasks
        where status in ('open', 'notified') and escalated_at is null and due_at is not null
          and greatest(due_at, coalesce(snoozed_until, due_at),
                       due_at + coalesce(notified_at - created_at, interval 0 second)) <= $now
        order by due_at, task_id
        """,
        {"now": now},
    )
    held = _covered(wh, ("queued",), fresh_only=True)
    covered = _covered(wh, ("queued", "sent"))
    for task in due:
        manager = managers.get(task["assignee"] or "")
        if manager is None or not manager.escalate_to:
            continue  # nobody to escalate to: the task stays where it is, still listed
        if _waiting_to_be_told(task, manager, held, covered):
            continue
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


def _hold(wh: Warehouse, delivery_id: str, until: datetime) -> None:
    wh.con.execute("update deliveries set next_attempt_at = $until where delivery_id = $id",
                   {"until": until, "id": delivery_id})


def _due_rows(wh: Warehouse, now: datetime) -> list[dict]:
    return wh.query(
        """
        select d.delivery_id, d.kind, d.assignee, d.channel, d.attempts, d.task_ids,
               d.period_start, t.status as task_status, t.task_id, t.rule, t.goal, t.source,
               t.severity, t.summary, t.url, t.excerpt, t.due_at
        from deliveries d left join tasks t using (task_id)
        where d.status = 'queued' and coalesce(d.next_attempt_at, d.queued_at) <= $now
        order by d.queued_at, d.task_id, d.kind, d.channel, d.delivery_id
        """,
        {"now": now},
    )


def _why_not_send(row: dict, listed: list[dict]) -> str | None:
    """Why a queued row is no longer worth sending, or None."""
    if row["kind"] == "digest":
        return None if listed else "every task in the digest was done before delivery"
    if row["task_status"] in ("resolved", "expired") or (
        row["kind"] == "notify" and row["task_status"] == "acknowledged"
    ):
        return f"task {row['task_status']} before delivery"
    return None


def _find_channel(row: dict, manager: Manager | None) -> Channel | None:
    if manager is None:
        return None
    key = digest_key(row["period_start"]) if row["kind"] == "digest" else row["task_id"]
    return next((c for c in channels_for(key, row["kind"], manager)
                 if c.delivery_id == row["delivery_id"]), None)


def send_queued(wh: Warehouse, config: Config, now: datetime, report: DeliveryReport) -> None:
    managers = _managers(config)
    for row in _due_rows(wh, now):
        listed = []
        if row["kind"] == "digest":
            listed = [t for t in list_tasks(wh, task_ids=row["task_ids"]) if t["status"] not in UNTOLD]
        why = _why_not_send(row, listed)
        manager = managers.get(row["assignee"])
        channel = _find_channel(row, manager)
        if why is None and channel is None:
            why = "channel no longer in the config"
        if why is not None:
            _cancel(wh, row["delivery_id"], why)
            report.cancelled += 1
            continue
        wait = may_send_now(manager, row["severity"], row["kind"], now)
        if wait is not None:
            _hold(wh, row["delivery_id"], wait)
            report.held += 1
            log.info("%s to %s (%s) waits for the end of quiet hours at %s UTC",
                     row["kind"], row["assignee"], channel.label, wait)
            continue
        kind = channel_kind(channel.url)
        if row["kind"] == "digest":
            message = render_digest(manager, listed, row["period_start"], kind)
        else:
            message = render(row, row["kind"], kind)
        ok, said = send(channel.url, message.title, message.body)
        _mark(wh, row, ok, "" if ok else redact(said, channel.url), now)
        what = (f"digest of {len(listed)} task(s)" if row["kind"] == "digest"
                else f"{row['kind']} of task {row['task_id']}")
        if ok:
            report.sent += 1
            report.digests += row["kind"] == "digest"
            log.info("sent %s to %s (%s)", what, row["assignee"], channel.label)
        else:
            report.failed += 1
            log.warning("could not send %s to %s (%s); queued for retry",
                        what, row["assignee"], channel.label)


def mark_notified(wh: Warehouse, now: datetime) -> list[str]:
    """Open tasks with every notify or digest delivery done (one at least sent) are notified."""
    rows = wh.con.execute(
        """
        update tasks set status = 'notified', notified_at = $now
        where status = 'open'
          and task_id in (select unnest(task_ids) from deliveries
                          where kind in (select unnest($kinds)) and status = 'sent')
          and task_id not in (select unnest(task_ids) from deliveries
                              where kind in (select unnest($kinds)) and status = 'queued')
        returning task_id
        """,
        {"now": now, "kinds": list(NOTIFYING)},
    ).fetchall()
    return sorted(task_id for (task_id,) in rows)


def deliver(wh: Warehouse, config: Config, now: datetime) -> DeliveryReport:
    """Queue what needs sending, escalate what is overdue, send what is due, record it all."""
    now = utc_naive(now)
    report = DeliveryReport()
    queue_notifications(wh, config, now, report)
    queue_digests(wh, config, now, report)
    escalate(wh, config, now, report)
    send_queued(wh, config, now, report)
    report.notified = mark_notified(wh, now)
    report.pending = wh.con.execute(
        "select count(*) from deliveries where status = 'queued'"
    ).fetchone()[0]
    return report
