"""The words a manager reads: a title and a plain-text body built from a task.

Every field that came from a post or a rule's summary goes through `dispatch.sanitise`;
post text appears only as a short quoted excerpt, isolated for right-to-left scripts.
"""
from __future__ import annotations

from dataclasses import dataclass

from dispatch.sanitise import excerpt, for_channel, isolate, neutralise, safe_url, subject_line

EMAIL_SCHEMES = {
    "mailto", "mailtos", "ses", "sendgrid", "mailgun", "sparkpost", "smtp2go", "brevo",
    "resend", "o365", "azure", "postmark", "mailersend", "sendpulse",
}
SLACK_SCHEMES = {"slack", "slacks"}


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
