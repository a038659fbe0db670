"""Untrusted text made inert: each case is (hostile input, what must be gone, what must stay)."""
from __future__ import annotations

import pytest

from dispatch.delivery import channel_label, redact
from dispatch.messages import render
from dispatch.sanitise import (
    EXCERPT_CHARS, FSI, PDI, ZWSP, clean_text, excerpt, neutralise, safe_url, subject_line,
)

CASES = [
    # id, input, must not appear, must appear
    ("slack-broadcasts", "Hi <!channel> <!here> <!everyone>", ["<!"], [f"@{ZWSP}channel", f"@{ZWSP}here"]),
    ("slack-labelled-broadcast", "<!here|here> now", ["<!"], [f"@{ZWSP}here now"]),
    ("slack-user", "ask <@U024BE7LH> or <@U1ABC|admin>", ["<@"], [f"@{ZWSP}U024BE7LH", f"@{ZWSP}admin"]),
    ("slack-usergroup", "<!subteam^SAZ94GDB8|@devs>", ["<!", "@devs"], [f"@{ZWSP}devs"]),
    ("slack-channel-link", "see <#C024BE7LR|general>", ["<#"], ["#general"]),
    ("plain-broadcasts", "@everyone @here @channel", ["@everyone", "@here", "@channel"], ["everyone"]),
    ("discord-role", "<@&987654321098765432> and <@!1234>", ["<@"], [f"@{ZWSP}&987654321098765432"]),
    ("email-address-kept", "write to help@example.org", [ZWSP], ["help@example.org"]),
    ("script", "<script>alert(1)</script>hello", ["<script", "alert(1)"], ["hello"]),
    ("entity-encoded-script", "&lt;script&gt;alert(2)&lt;/script&gt;", ["<script"], [f"<{ZWSP}script>"]),
    ("img-onerror", "<img src=x onerror=alert(1)>after", ["<img", "onerror"], ["after"]),
    ("html-link", '<a href="https://ex.org/a">docs</a>', ["<a", "href"], ["docs (https://ex.org/a)"]),
    ("html-js-link", '<a href="JaVaScRiPt:alert(1)">here</a>', ["avaScRiPt", "alert"], ["here"]),
    ("md-link", "[docs](https://ex.org/d)", ["]("], ["docs (https://ex.org/d)"]),
    ("md-js-link", "[click](javascript:alert(document.cookie))", ["javascript", "]("], ["click"]),
    ("md-image", "![pixel](https://t.example/p.gif)", ["!["], ["pixel (https://t.example/p.gif)"]),
    ("slack-link", "<https://ex.org|site> <javascript:alert(1)|bad>", ["<https", "javascript"], ["site (https://ex.org)", "bad"]),
    ("bare-js-scheme", "try javascript:void(0)", ["javascript:"], [f"javascript{ZWSP}:void(0)"]),
    ("comparison-kept", "if x < 3 and y > 2", [ZWSP], ["x < 3 and y > 2"]),
    ("bidi-overrides", "abc\u202eexe.pdf\u202c \u2066x\u2069 \u202by\u202c", list("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), ["abcexe.pdf x y"]),
    ("nul-and-controls", "a\x00b\x07c\x1bd", ["\x00", "\x07", "\x1b"], ["abcd"]),
    ("arabic-kept", "هل من مجيب؟", [], ["هل من مجيب؟"]),
]


@pytest.mark.parametrize("text,gone,kept", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_neutralise_removes_what_acts_and_keeps_what_reads(text, gone, kept):
    out = neutralise(text)
    for token in gone:
        assert token not in out
    for token in kept:
        assert token in out


def test_invalid_utf8_bytes_and_surrogates_are_dropped():
    raw = b"caf\xc3 \xff\xfe ok \xed\xa0\x80"
    assert clean_text(raw) == "caf  ok "
    assert clean_text(raw.decode("utf-8", errors="surrogateescape")) == "caf  ok "


def test_excerpt_is_quoted_isolated_and_short():
    out = excerpt("word " * 20_000 + "<!channel>")
    assert out.startswith(f"> {FSI}") and out.endswith(f"…{PDI}")
    assert len(out) <= EXCERPT_CHARS + 10
    assert "<!channel>" not in out


def test_excerpt_isolates_each_line_of_arabic():
    out = excerpt("سؤال أول؟\n\n\u202eسؤال ثان؟")
    assert out == f"> {FSI}سؤال أول؟{PDI}\n> {FSI}سؤال ثان؟{PDI}"


def test_subject_line_cannot_start_a_header():
    out = subject_line("Question?\r\nBcc: victim@example.org\u2028X-Evil: 1\nmore")
    assert "\r" not in out and "\n" not in out and "\u2028" not in out
    assert out == "Question? Bcc: victim@example.org X-Evil: 1 more"


@pytest.mark.parametrize("url,shown", [
    ("https://ex.org/p?q=1", "https://ex.org/p?q=1"),
    ("http://ex.org/a b<script>", "http://ex.org/a%20b%3Cscript%3E"),
    ("javascript:alert(1)", None),
    ("data:text/html,<script>", None),
    ("ftp://ex.org/f", None),
    (None, None),
])
def test_only_http_links_are_shown(url, shown):
    assert safe_url(url) == shown


@pytest.mark.parametrize("url,label", [
    ("mailto://user:pw@smtp.example.org:587?to=a@b.org", "mailto://smtp.example.org:587"),
    ("json://u:secret@127.0.0.1:8080/hook/tok", "json://127.0.0.1:8080"),
    ("mailtos://gmail.com?user=me&pass=x", "mailtos://gmail.com"),
])
def test_channel_label_keeps_only_scheme_and_host(url, label):
    assert channel_label(url) == label


@pytest.mark.parametrize("url", [
    "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
    "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
    "tgram://123456789:AABx8iXjE5C-vG4SDhf6ARgdFgxYxhuHb4A/-123",
    "ntfy://my-private-topic",
])
def test_channel_label_hides_hosts_that_are_tokens(url):
    label = channel_label(url)
    scheme, rest = label.split("://")
    assert rest.startswith("~") and len(rest) == 9
    for part in url.split("://")[1].replace(":", "/").split("/"):
        if len(part) >= 4:
            assert part not in label


def test_redact_masks_every_part_of_the_url():
    url = "json://user:Pa55word@10.0.0.1:80/path/T0ken?+X-Key=S3cret"
    said = "failed POST http://10.0.0.1:80/path/T0ken with header S3cret for user:Pa55word"
    out = redact(said, url)
    for secret in ("Pa55word", "T0ken", "S3cret"):
        assert secret not in out


def test_message_names_rule_goal_link_and_task():
    task = {"task_id": "abc123", "rule": "unanswered-questions", "goal": "answer-every-question",
            "severity": "medium", "source": "blog", "summary": "Unanswered: <!here> help?",
            "excerpt": "<b>help</b> me", "url": "https://blog.example.org/p/1", "due_at": None,
            "assignee": "amal"}
    message = render(task)
    assert message.title == f"[Majlis] unanswered-questions: {FSI}Unanswered: @{ZWSP}here help?{PDI}"
    assert f"> {FSI}help me{PDI}" in message.body
    for line in ("Rule: unanswered-questions", "Goal: answer-every-question",
                 "Link: https://blog.example.org/p/1", "majlis tasks ack abc123"):
        assert line in message.body
