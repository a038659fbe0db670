"""Make text written by strangers safe to put in front of a manager, on any channel.

Post text reaches dispatch from the open internet and leaves through chat, e-mail and
webhooks whose renderers act on some of it: Slack and Discord expand `<!channel>`,
`@everyone` and `<@U123>` into pings, Markdown and HTML become links and images,
`javascript:` targets run, CR/LF in an e-mail subject starts a new header, and bidi
override characters (U+202A-202E, U+2066-2069) can make text read differently from
what it is. Everything here is a pure function from text to text:

- `neutralise(text)`: the channel-independent pass every untrusted string gets. Invalid
  UTF-8, NULs and control characters go; bidi controls go; HTML and Markdown become plain
  text with each link shown as "text (target)" and `javascript:`/`data:`/`vbscript:`
  targets dropped; mentions and tag openers are broken with a zero-width space so that
  they read the same and do nothing.
- `isolate(text)`: wraps text in FSI..PDI (U+2068..U+2069) so Arabic and other
  right-to-left text reads correctly inside a left-to-right message, and cannot reorder
  what follows it. Isolating, not stripping, keeps RTL text intact.
- `excerpt(text)`: a quoted, isolated excerpt of ~280 characters, never a whole post.
- `subject_line(text)`: one line for an e-mail subject or chat title (no CR/LF/U+2028).
- `for_channel(text, kind)`: the last, channel-specific step.
"""
from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

ZWSP = "\u200b"
FSI, PDI = "\u2068", "\u2069"
EXCERPT_CHARS = 280
# Parse at most this much of a post: a 100 KB post costs no more than a short one.
READ_CHARS = 4000

# Embeddings, overrides and isolates (the "Trojan Source" set). LRM/RLM/ALM are left:
# they only affect neighbouring neutral characters and Arabic text uses them legitimately.
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85\x0b\x0c]+")
UNSAFE_SCHEMES = ("javascript:", "data:", "vbscript:", "file:")

SLACK_TOKEN = re.compile(r"<([!@#])([^<>|\s]*)(?:\|([^<>]*))?>")  # <!channel> <@U1> <#C1|name>
ANGLE_LINK = re.compile(r"<((?:https?|mailto|javascript|data|vbscript|ftp|file):[^<>|\s]*)(?:\|([^<>]*))?>", re.I)
MD_LINK = re.compile(
    r"!?\[([^\[\]]{0,500})\]\(\s*<?((?:[^()\s<>]|\([^()\s<>]*\)){0,2000})>?(?:\s+\"[^\"]*\")?\s*\)"
)
MENTION = re.compile(r"@(?=(?:everyone|here|channel|all|group)\b)", re.I)
AT_ID = re.compile(r"(?<![\w.])@(?=[\w&!])")  # @U123, @&role, @user: any direct mention
SCHEME_WORD = re.compile(r"\b(javascript|vbscript|data)(\s*):", re.I)
TAG_OPENER = re.compile(r"<(?=[A-Za-z/!?@#&])")


def clean_text(value: str | bytes | None) -> str:
    """Valid Unicode only: no invalid UTF-8, lone surrogates, NULs or control characters."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    # Lone surrogates are what `surrogateescape` makes of invalid UTF-8 bytes.
    value = value.encode("utf-8", errors="ignore").decode("utf-8")
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffd", "")
    value = value.translate(BIDI_CONTROLS)
    return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit to show as text, or None. Anything else is not shown at all."""
    if not url:
        return None
    url = clean_text(url).strip()
    if not re.match(r"https?://[^\s/]", url, re.I):
        return None
    # Characters that would end the URL early, open a tag or a mention in a renderer.
    return re.sub(r"[\s<>\"'`|\\^{}@]", lambda m: "%{:02X}".format(ord(m.group())), url)


def _link_text(text: str, target: str) -> str:
    """A link as plain text showing its real target; unsafe targets are dropped."""
    text = text.strip()
    target = html.unescape(target.strip())
    shown = safe_url(target) if not target.lower().startswith(UNSAFE_SCHEMES) else None
    if shown is None:
        return text
    if not text or text == target:
        return shown
    return f"{text} ({shown})"


class _TextOfHtml(HTMLParser):
    """HTML to text: tags dropped, <script>/<style> bodies dropped, links as text (target)."""

    SKIP = {"script", "style", "iframe", "object", "embed", "template", "noscript"}
    BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.links: list[tuple[str, int]] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BREAKS:
            self.parts.append("\n")
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))
        elif tag == "img":
            alt = dict(attrs).get("alt") or ""
            self.parts.append(_link_text(alt, dict(attrs).get("src") or ""))

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = "".join(self.parts[start:])
            del self.parts[start:]
            self.parts.append(_link_text(text, href))

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)

    def text(self) -> str:
        return "".join(self.parts)


def html_to_text(text: str) -> str:
    if "<" not in text and "&" not in text:
        return text
    parser = _TextOfHtml()
    parser.feed(text)
    parser.close()
    return parser.text()


def _slack_token(match: re.Match) -> str:
    sigil, ident, label = match.group(1), match.group(2), match.group(3)
    if sigil == "#":
        return f"#{label or ident}"
    name = (label or ident.split("^")[0]).lstrip("!@")
    return f"@{ZWSP}{name}"


def neutralise(text: str | bytes | None) -> str:
    """Plain text that no channel will act on, reading as close to the original as can be."""
    text = clean_text(text)[:READ_CHARS]
    text = SLACK_TOKEN.sub(_slack_token, text)
    text = ANGLE_LINK.sub(lambda m: _link_text(m.group(2) or "", m.group(1)), text)
    text = MD_LINK.sub(lambda m: _link_text(m.group(1), m.group(2)), text)
    text = html_to_text(text)
    # html_to_text unescapes entities; a second pass catches `&lt;script&gt;` and friends.
    text = clean_text(text)
    text = MENTION.sub("@" + ZWSP, text)
    text = AT_ID.sub("@" + ZWSP, text)
    text = SCHEME_WORD.sub(lambda m: f"{m.group(1)}{ZWSP}{m.group(2)}:", text)
    text = TAG_OPENER.sub("<" + ZWSP, text)
    return text


def isolate(text: str) -> str:
    """Wrap in FSI..PDI; `text` must already be neutralised (no bidi controls of its own)."""
    return f"{FSI}{text}{PDI}" if text else text


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…"


def one_line(text: str) -> str:
    return re.sub(r"[ \t]+", " ", LINE_BREAKS.sub(" ", text)).strip()


def excerpt(text: str | bytes | None, limit: int = EXCERPT_CHARS) -> str:
    """A short quoted excerpt: neutralised, truncated, isolated, each line prefixed `> `."""
    body = neutralise(text)
    body = re.sub(r"\n\s*\n+", "\n", LINE_BREAKS.sub("\n", body)).strip()
    body = truncate(body, limit)
    if not body:
        return ""
    return "\n".join(f"> {isolate(line.strip())}" for line in body.split("\n") if line.strip())


def subject_line(text: str | bytes | None, limit: int = 150) -> str:
    """A single line: an e-mail subject cannot gain headers from it."""
    return truncate(one_line(neutralise(text)), limit)


def for_channel(text: str, kind: str) -> str:
    """The last, channel-specific step on a whole body already built from neutralised parts.

    Every channel gets the full `neutralise` pass, because a webhook's consumer may well
    render into Slack or HTML. What is left per channel is small: e-mail bodies use bare
    LF (apprise writes CRLF itself). Slack's own `&`, `<`, `>` escaping is done by apprise
    when the body is declared TEXT, which dispatch always does; escaping here as well
    would show `&amp;lt;` to the reader.
    """
    if kind == "email":
        return text.replace("\r", "")
    return text
