"""The words a manager reads: a title and a plain-text body built from a task.

Every field that came from a post or a rule's summary goes through `dispatch.sanitise`;
post text appears only as a short quoted excerpt, isolated for right-to-left scripts.
A digest lists many tasks in one message, each built the same way with a shorter excerpt.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatch.modes import describe
from dispatch.sanitise import excerpt, for_channel, isolate, neutralise, safe_url, subject_line
from majlis.config import Manager

EMAIL_SCHEMES = {
    "mailto", "mailtos", "ses", "sendgrid", "mailgun", "sparkpost", "smtp2go", "brevo",
    "resend", "o365", "azure", "postmark", "mailersend", "sendpulse",
}
SLACK_SCHEMES = {"slack", "slacks"}
DIGEST_EXCERPT_CHARS = 160  # a digest lists many tasks: each gets a shorter quote


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def channel_kind(url: str) -> str:
    scheme = url.split("://", 1)[0].lower()
    if scheme in EMAIL_SCHEMES:
        return "email"
    if scheme in SLACK_SCHEMES:
        return "slack"
    return "text"


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "none set"


def render(task: dict, kind: str = "notify", channel: str = "text") -> Message:
    """Title and body for one task on one kind of channel; `kind` is notify | escalation."""
    summary = subject_line(task["summary"], limit=200)
    prefix = "[Majlis] ESCALATED" if kind == "escalation" else "[Majlis]"
    title = subject_line(f"{prefix} {task['rule']}: ", limit=60) + " " + isolate(
        subject_line(task["summary"], limit=120)
    )
    lines = [isolate(summary), ""]
    if kind == "escalation":
        lines += [
            f"Not acknowledged by {_when(task['due_at'])}; assigned to "
            f"{neutralise(task['assignee'] or 'nobody')}.",
            "",
        ]
    lines += [
        f"Rule: {neutralise(task['rule'])}",
        f"Goal: {neutralise(task['goal'] or 'none')}",
        f"Severity: {neutralise(task['severity'] or 'unknown')}",
        f"Source: {neutralise(task['source'] or 'unknown')}",
        f"Due: {_when(task['due_at'])}",
    ]
    quoted = excerpt(task["excerpt"])
    if quoted:
        lines += ["", "Excerpt:", quoted]
    lines += [
        "",
        f"Link: {safe_url(task['url']) or '(no safe link)'}",
        f"Task: {task['task_id']} (acknowledge: majlis tasks ack {task['task_id']})",
    ]
    return Message(title=title, body=for_channel("\n".join(lines), channel))


def _digest_item(n: int, task: dict) -> list[str]:
    lines = [
        f"{n}. [{neutralise(task['severity'] or 'unknown')}] {neutralise(task['rule'])}: "
        + isolate(subject_line(task["summary"], limit=200)),
        f"   Goal: {neutralise(task['goal'] or 'none')} | Source: "
        f"{neutralise(task['source'] or 'unknown')} | Due: {_when(task['due_at'])}",
    ]
    quoted = excerpt(task["excerpt"], limit=DIGEST_EXCERPT_CHARS)
    lines += [f"   {line}" for line in quoted.split("\n") if line]
    lines += [
        f"   Link: {safe_url(task['url']) or '(no safe link)'}",
        f"   Task: {task['task_id']} (acknowledge: majlis tasks ack {task['task_id']})",
    ]
    return lines


def render_digest(manager: Manager, tasks: list[dict], period_start: datetime, channel: str = "text") -> Message:
    """One message listing `tasks` for `manager` (a config `Manager`), for the period due then."""
    name = neutralise(manager.name)
    count = f"{len(tasks)} new task" + ("" if len(tasks) == 1 else "s")
    title = subject_line(f"[Majlis] digest: {count} for {manager.name}", limit=150)
    lines = [f"{count} for {name} since the last digest ({describe(manager)}; "
             f"period due {_when(period_start)}).", ""]
    for n, task in enumerate(tasks, 1):
        lines += _digest_item(n, task) + [""]
    return Message(title=title, body=for_channel("\n".join(lines).rstrip() + "\n", channel))
