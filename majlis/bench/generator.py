"""A seeded synthetic community, written as the API pages the connectors really receive.

`generate(root, posts, seed)` writes, under `root`:

    reddit/new-000001.json, comments-000001.json   Reddit listing JSON (`/r/{sub}/new`,
                                                   `/r/{sub}/comments`), 100 things a page,
                                                   with the field set of recorded listings
    x/search-000001.json                           X API v2 recent-search pages: `data`,
                                                   `includes.users`, `includes.tweets`
                                                   (parents of replies), `meta`
    rss/feed-000001.xml, comments-000002.xml       WordPress RSS 2.0: main feed pages with
                                                   `wfw:commentRss`, and each article's
                                                   "Comments on:" feed, threaded with
                                                   "In reply to" links
    rss/index.jsonl                                per RSS document: source, kind, URL and,
                                                   for a comment feed, its article's guid
    manifest.json                                  what was written, and the time span

The community: two years of activity (`START`..`END`) growing about threefold, split
between Reddit (55 %), X (38 %) and two blogs (7 %); authors drawn from a pool that grows
month by month, heavy-tailed (the top 1 % write about a quarter of the posts); threads of
heavy-tailed size whose replies answer the root or an earlier reply (so depth varies);
English, Arabic and some French text, with questions, deleted and removed posts, edits,
moderators and a bot. The same seed and size give the same bytes.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

__all__ = ["END", "START", "SCALES", "generate", "generate_increment", "parse_scale", "Manifest"]

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
END = datetime(2026, 1, 1, tzinfo=timezone.utc)
MONTHS = 24
GROWTH = 3.0  # the last month has this many times the posts of the first
SHARES = {"reddit": 0.55, "x": 0.38, "rss": 0.07}
SCALES = {"100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
SUBREDDIT = "majlis_bench"
REDDIT_SOURCE = "reddit-bench"
X_SOURCE = "x-bench"
BLOGS = (("blog-ar", "ar"), ("blog-en", "en"))
PAGE = 100  # Reddit's and X's largest page
FEED_PAGE = 20  # items per main feed document
POSTS_PER_MEMBER = 12
X_EPOCH_MS = 1288834974657  # snowflake ids count milliseconds from here


def parse_scale(text: str | int) -> int:
    """"100k", "1m", "10m", "2500" or "3k" -> a number of posts."""
    if isinstance(text, int):
        return text
    value = text.strip().lower()
    if value in SCALES:
        return SCALES[value]
    factor = {"k": 1_000, "m": 1_000_000}.get(value[-1:], 1)
    number = value[:-1] if factor > 1 else value
    try:
        posts = int(float(number) * factor)
    except ValueError:
        raise ValueError(f"scale {text!r}: expected 100k, 1m, 10m or a number of posts") from None
    if posts < 500:
        raise ValueError(f"scale {text!r}: at least 500 posts")
    return posts


# -- text ---------------------------------------------------------------------------------------

_EN_NOUNS = ("router", "password", "account", "laptop", "backup", "garden", "recipe", "bike",
             "library", "meetup", "budget", "printer", "phone", "course", "app", "camera",
             "server", "newsletter", "forum", "invoice", "playlist", "keyboard", "visa", "loan",
             "tent", "oven", "charger", "script", "database", "translation", "podcast", "lamp")
_EN_ADJ = ("cheap", "reliable", "old", "new", "broken", "slow", "free", "local", "simple",
           "quiet", "second-hand", "open-source", "official", "tiny", "strange", "decent")
_EN_VERBS = ("fix", "reset", "replace", "install", "share", "move", "clean", "update", "learn",
             "sell", "export", "repair", "find", "configure", "translate", "organise")
_EN_PEOPLE = ("my brother", "our team", "the landlord", "a friend", "my manager", "the shop",
              "support", "my neighbour", "the teacher", "our group")
_EN_STATEMENTS = (
    "I finally managed to {v} the {a} {n} last night.",
    "{P} told me the {n} was {a}, and they were right.",
    "We tried a {a} {n} for three weeks and it works well.",
    "Thanks for sharing this, the part about the {n} helped a lot.",
    "Honestly the {a} {n} is fine for most people.",
    "Update: {p} replaced the {n} and everything is {a} again.",
    "Here is what I learned after trying to {v} a {n} on a budget.",
    "The {n} arrived today, setup took ten minutes.",
    "I agree, a {a} {n} is usually enough.",
    "Same experience here with the {n}.",
    "Just a reminder that the {n} meetup is on Saturday.",
    "It depends on the {n} you already have.",
)
_EN_QUESTIONS = (
    "How do I {v} the {n} without losing everything?",
    "Does anyone know a {a} {n} that actually lasts?",
    "What is the best way to {v} a {a} {n}?",
    "Can someone explain why my {n} keeps failing?",
    "Any tips for a first {n}?",
    "Is it worth it to {v} the {n} myself?",
    "Where can I find a {a} {n} near the city centre?",
    "Has anybody tried to {v} their {n} with {p}?",
)
_AR_NOUNS = ("الراوتر", "كلمة المرور", "الحساب", "اللابتوب", "النسخة الاحتياطية", "الحديقة",
             "الوصفة", "الدراجة", "المكتبة", "اللقاء", "الميزانية", "الطابعة", "الجوال", "الدورة",
             "التطبيق", "الكاميرا", "الخادم", "النشرة", "المنتدى", "الفاتورة", "التأشيرة", "القرض",
             "الفرن", "الشاحن", "قاعدة البيانات", "الترجمة", "البودكاست", "المصباح")
_AR_ADJ = ("رخيص", "ممتاز", "قديم", "جديد", "معطل", "بطيء", "مجاني", "بسيط", "هادئ", "مستعمل",
           "رسمي", "صغير", "غريب", "مقبول")
_AR_VERBS = ("أصلح", "أغير", "أستبدل", "أثبت", "أشارك", "أنقل", "أنظف", "أحدث", "أتعلم", "أبيع",
             "أصدر", "أرتب")
_AR_STATEMENTS = (
    "أخيرا قدرت {v} {n} امبارح والحمد لله.",
    "جربت {n} لمدة ثلاثة أسابيع وكان {a} جدا.",
    "شكرا على المشاركة، الجزء الخاص ب{n} أفادني كثيرا.",
    "بصراحة {n} {a} ويكفي أغلب الناس.",
    "تحديث: غيرت {n} وكل شيء صار تمام.",
    "هذا ما تعلمته بعد محاولة {v} {n} بميزانية بسيطة.",
    "وصل {n} اليوم والتركيب أخذ عشر دقائق.",
    "أتفق معك، {n} {a} يكفي عادة.",
    "نفس التجربة عندي مع {n}.",
    "تذكير بأن لقاء {n} يوم السبت إن شاء الله.",
    "يعتمد على {n} الموجود عندك.",
)
_AR_QUESTIONS = (
    "حد يعرف {n} {a} يدوم فعلا؟",
    "كيف أقدر {v} {n} بدون ما أفقد كل شيء؟",
    "ما رأيكم في {n}؟ هل يستحق؟",
    "ممكن حد يساعدني في مشكلة {n}؟",
    "تنصحوني ب{n} {a} للمبتدئين؟",
    "وين ألاقي {n} {a} في وسط المدينة؟",
    "هل في أحد جرب {n} مع الشركة؟",
)
_FR_STATEMENTS = (
    "J'ai enfin réussi à réparer le {n} hier soir.",
    "Merci pour le partage, la partie sur le {n} m'a beaucoup aidé.",
    "Franchement le {n} suffit pour la plupart des gens.",
    "Le {n} est arrivé aujourd'hui, l'installation a pris dix minutes.",
)
_FR_QUESTIONS = (
    "Quelqu'un connaît un {n} fiable qui dure vraiment ?",
    "Comment est-ce que je peux réinitialiser le {n} ?",
)
_FR_NOUNS = ("routeur", "mot de passe", "compte", "portable", "vélo", "four", "chargeur")
_FIRST_NAMES = ("sara", "omar", "lina", "yusuf", "maya", "karim", "nour", "adam", "huda", "sam",
                "rania", "tariq", "leila", "jon", "fatima", "ali", "mona", "ben", "dina", "zaid")


class _Text:
    """Pools of sentences per language, filled from templates once per seed."""

    def __init__(self, rng: random.Random, per_template: int = 60):
        self.rng = rng
        self.pools = {
            ("en", False): self._fill(_EN_STATEMENTS, per_template, _en_slots),
            ("en", True): self._fill(_EN_QUESTIONS, per_template, _en_slots),
            ("ar", False): self._fill(_AR_STATEMENTS, per_template, _ar_slots),
            ("ar", True): self._fill(_AR_QUESTIONS, per_template, _ar_slots),
            ("fr", False): self._fill(_FR_STATEMENTS, per_template, _fr_slots),
            ("fr", True): self._fill(_FR_QUESTIONS, per_template, _fr_slots),
        }

    def _fill(self, templates, count, slots) -> list[str]:
        return [t.format(**slots(self.rng)) for t in templates for _ in range(count)]

    def language(self) -> str:
        r = self.rng.random()
        return "en" if r < 0.50 else "ar" if r < 0.95 else "fr"

    def sentence(self, lang: str, question: bool) -> str:
        return self.rng.choice(self.pools[(lang, question)])

    def body(self, lang: str, question: bool, sentences: int) -> str:
        parts = [self.sentence(lang, False) for _ in range(max(0, sentences - 1))]
        last = self.sentence(lang, question)
        if question and self.rng.random() < 0.5:
            parts.insert(0, last)  # asked first, context after
        else:
            parts.append(last)
        if self.rng.random() < 0.08:
            parts.append(f"https://example.org/{self.rng.randrange(10**6)}")
        return " ".join(parts)

    def title(self, lang: str, question: bool) -> str:
        return self.sentence(lang, question).rstrip(".")

    def sentences(self) -> int:
        return min(12, 1 + int(self.rng.expovariate(0.6)))


def _en_slots(rng):
    return {"n": rng.choice(_EN_NOUNS), "a": rng.choice(_EN_ADJ), "v": rng.choice(_EN_VERBS),
            "p": rng.choice(_EN_PEOPLE), "P": rng.choice(_EN_PEOPLE).capitalize()}


def _ar_slots(rng):
    return {"n": rng.choice(_AR_NOUNS), "a": rng.choice(_AR_ADJ), "v": rng.choice(_AR_VERBS)}


def _fr_slots(rng):
    return {"n": rng.choice(_FR_NOUNS)}


# -- the plan shared by every platform ---------------------------------------------------------


def _month_bounds(k: int) -> tuple[float, float]:
    span = (END - START).total_seconds() / MONTHS
    start = START.timestamp() + k * span
    return start, start + span


def _month_counts(total: int) -> list[int]:
    """Posts per month, growing linearly by GROWTH over the two years."""
    weights = [1 + (GROWTH - 1) * k / (MONTHS - 1) for k in range(MONTHS)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    counts[-1] += total - sum(counts)
    return counts


class _Authors:
    """A member pool that grows month by month; early members post the most."""

    def __init__(self, rng: random.Random, total_posts: int, prefix: str):
        self.rng = rng
        self.size = max(20, total_posts // POSTS_PER_MEMBER)
        self.prefix = prefix

    def pick(self, month: int) -> int:
        pool = max(5, math.ceil(self.size * min(month + 1, MONTHS) / MONTHS))
        return int(pool * self.rng.random() ** 3)

    def handle(self, rank: int) -> str:
        return f"{_FIRST_NAMES[rank % len(_FIRST_NAMES)]}_{self.prefix}{rank}"


def _thread_of(rng: random.Random, roots: int, replies: int) -> list[int]:
    """Which root each reply belongs to: heavy-tailed thread sizes, many roots with none."""
    weights = [rng.paretovariate(1.1) for _ in range(roots)]
    return rng.choices(range(roots), weights=weights, k=replies)


def _state(rng: random.Random) -> str:
    r = rng.random()
    return "deleted" if r < 0.02 else "removed" if r < 0.03 else "edited" if r < 0.06 else "live"


@dataclass
class Manifest:
    scale: int
    seed: int
    posts: dict[str, int]
    pages: dict[str, int]
    bytes: dict[str, int]
    start: str
    end: str

    def save(self, root: Path) -> None:
        (root / "manifest.json").write_text(json.dumps(self.__dict__, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, root: Path) -> "Manifest":
        return cls(**json.loads((root / "manifest.json").read_text(encoding="utf-8")))


def generate(root: Path | str, posts: int | str, seed: int = 7) -> Manifest:
    """Write the community's pages under `root` (created); return what was written."""
    total = parse_scale(posts)
    return _write(Path(root), total, seed, pool_posts=total, months=range(MONTHS), id_offset=0)


def generate_increment(root: Path | str, posts: int, base_posts: int, seed: int = 7) -> Manifest:
    """`posts` new posts in the month after `END`, by the members of a `base_posts` community.

    Ids start far above the base community's, so every post is new to its warehouse: what
    an incremental ingest and detect after the history see.
    """
    return _write(Path(root), posts, seed + 1, pool_posts=base_posts, months=range(MONTHS, MONTHS + 1),
                  id_offset=10 ** 9)


def _write(root: Path, total: int, seed: int, *, pool_posts: int, months: range,
           id_offset: int) -> Manifest:
    shares = {name: int(total * share) for name, share in SHARES.items()}
    shares["reddit"] += total - sum(shares.values())
    manifest = Manifest(total, seed, {}, {}, {}, START.isoformat(), END.isoformat())
    for name, writer in (("reddit", _RedditWriter), ("x", _XWriter), ("rss", _RssWriter)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        rng = random.Random(f"{seed}:{name}")
        out = writer(folder, rng, int(pool_posts * SHARES[name]), id_offset)
        counts = _month_counts(shares[name]) if len(months) == MONTHS else [shares[name]]
        for month, count in zip(months, counts):
            out.month(month, count)
        out.close()
        manifest.posts[name], manifest.pages[name], manifest.bytes[name] = out.posts, out.pages, out.bytes
    manifest.save(root)
    return manifest


class _Writer:
    def __init__(self, folder: Path, rng: random.Random, total: int, id_offset: int = 0):
        self.folder = folder
        self.rng = rng
        self.text = _Text(rng)
        self.posts = self.pages = self.bytes = 0

    def write(self, name: str, body: bytes, ext: str = "json") -> str:
        self.pages += 1
        file = f"{name}-{self.pages:06d}.{ext}"
        (self.folder / file).write_bytes(body)
        self.bytes += len(body)
        return file

    def close(self) -> None:
        pass


# -- Reddit -------------------------------------------------------------------------------------

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if not n:
            return out


class _RedditWriter(_Writer):
    """`/r/{sub}/new` and `/r/{sub}/comments` pages, newest first, 100 things each."""

    def __init__(self, folder, rng, total, id_offset=0):
        super().__init__(folder, rng, total)
        self.authors = _Authors(rng, total, "r")
        self.next_id = 36 ** 5 + id_offset  # six-character ids, as Reddit's are

    def _id(self) -> str:
        self.next_id += 1 + self.rng.randrange(3)
        return _base36(self.next_id)

    def month(self, month: int, count: int) -> None:
        rng, text = self.rng, self.text
        start, end = _month_bounds(month)
        n_sub = max(1, round(count * 0.15))
        n_com = count - n_sub
        subs = []
        for when in sorted(rng.uniform(start, end) for _ in range(n_sub)):
            lang, asks = text.language(), rng.random() < 0.3
            rank = self.authors.pick(month)
            subs.append(_t3(self._id(), when, self.authors.handle(rank), rank, lang, asks, text, rng))
        comments: list[dict] = []
        by_thread: dict[int, list[dict]] = {}
        for thread in sorted(_thread_of(rng, n_sub, n_com)):
            sub = subs[thread]
            earlier = by_thread.setdefault(thread, [])
            parent = sub if not earlier or rng.random() < 0.45 else rng.choice(earlier)
            when = parent["created_utc"] + rng.expovariate(1 / 21600)
            bot = rng.random() < 0.03
            rank = self.authors.pick(month)
            handle = "AutoModerator" if bot else self.authors.handle(rank)
            comment = _t1(self._id(), when, handle, rank, sub, parent, text, rng)
            earlier.append(comment)
            comments.append(comment)
        for thread, replies in by_thread.items():
            subs[thread]["num_comments"] = len(replies)
        self._pages("new", subs, "t3")
        self._pages("comments", comments, "t1")
        self.posts += count

    def _pages(self, listing: str, things: list[dict], kind: str) -> None:
        things.sort(key=lambda t: t["created_utc"], reverse=True)
        for at in range(0, len(things), PAGE):
            chunk = things[at:at + PAGE]
            after = chunk[-1]["name"] if at + PAGE < len(things) else None
            page = {"kind": "Listing", "data": {
                "modhash": "", "dist": len(chunk), "after": after, "before": None,
                "children": [{"kind": kind, "data": t} for t in chunk]}}
            self.write(listing, json.dumps(page, ensure_ascii=True).encode())


def _t3(ident, when, author, rank, lang, asks, text, rng) -> dict:
    state = _state(rng)
    title = text.title(lang, asks)
    selftext = "" if rng.random() < 0.3 else text.body(lang, False, text.sentences())
    if state == "deleted":
        author, selftext = "[deleted]", "[deleted]"
    elif state == "removed":
        selftext = "[removed]"
    slug = f"post_{ident}"
    return {
        "approved_at_utc": None, "subreddit": SUBREDDIT, "selftext": selftext,
        "author_fullname": f"t2_{_base36(rank + 1000)}", "saved": False, "mod_reason_title": None,
        "gilded": 0, "clicked": False, "title": title, "link_flair_richtext": [],
        "subreddit_name_prefixed": f"r/{SUBREDDIT}", "hidden": False, "pwls": 6,
        "link_flair_css_class": None, "downs": 0, "thumbnail_height": None, "top_awarded_type": None,
        "hide_score": False, "name": f"t3_{ident}", "quarantine": False,
        "link_flair_text_color": "dark", "upvote_ratio": round(rng.uniform(0.5, 1.0), 2),
        "author_flair_background_color": None, "subreddit_type": "public", "ups": rng.randrange(200),
        "total_awards_received": 0, "media_embed": {}, "thumbnail_width": None,
        "author_flair_template_id": None, "is_original_content": False, "user_reports": [],
        "secure_media": None, "is_reddit_media_domain": False, "is_meta": False, "category": None,
        "secure_media_embed": {}, "link_flair_text": None, "can_mod_post": False,
        "score": rng.randrange(200), "approved_by": None, "is_created_from_ads_ui": False,
        "author_premium": False, "thumbnail": "self", "edited": (when + 600) if state == "edited" else False,
        "author_flair_css_class": None, "author_flair_richtext": [], "gildings": {},
        "content_categories": None, "is_self": True, "mod_note": None, "created": when,
        "link_flair_type": "text", "wls": 6, "removed_by_category": "moderator" if state == "removed" else None,
        "banned_by": None, "author_flair_type": "text", "domain": f"self.{SUBREDDIT}",
        "allow_live_comments": False, "selftext_html": None, "likes": None, "suggested_sort": None,
        "banned_at_utc": None, "view_count": None, "archived": False, "no_follow": True,
        "is_crosspostable": True, "pinned": False, "over_18": False, "all_awardings": [],
        "awarders": [], "media_only": False, "can_gild": False, "spoiler": False, "locked": False,
        "author_flair_text": None, "treatment_tags": [], "visited": False, "removed_by": None,
        "num_reports": None, "distinguished": "moderator" if rank < 2 and rng.random() < 0.5 else None,
        "subreddit_id": "t5_bench", "author_is_blocked": False, "mod_reason_by": None,
        "removal_reason": None, "link_flair_background_color": "", "id": ident,
        "is_robot_indexable": True, "report_reasons": None, "author": author,
        "discussion_type": None, "num_comments": 0,
        "send_replies": True, "whitelist_status": "all_ads", "contest_mode": False,
        "mod_reports": [], "author_patreon_flair": False, "author_flair_text_color": None,
        "permalink": f"/r/{SUBREDDIT}/comments/{ident}/{slug}/", "parent_whitelist_status": "all_ads",
        "stickied": False, "url": f"https://www.reddit.com/r/{SUBREDDIT}/comments/{ident}/{slug}/",
        "subreddit_subscribers": 0, "created_utc": when, "num_crossposts": 0, "media": None,
        "is_video": False,
    }


def _t1(ident, when, author, rank, sub, parent, text, rng) -> dict:
    state = _state(rng)
    lang = text.language() if rng.random() < 0.2 else _lang_of(sub)
    body = text.body(lang, rng.random() < 0.1, text.sentences())
    if author == "AutoModerator":
        body = "Please read the rules before posting. I am a bot, and this action was performed automatically."
    if state == "deleted":
        author, body = "[deleted]", "[deleted]"
    elif state == "removed":
        body = "[removed]"
    return {
        "subreddit_id": "t5_bench", "approved_at_utc": None, "author_is_blocked": False,
        "comment_type": None, "link_title": sub["title"], "mod_reason_by": None, "banned_by": None,
        "ups": rng.randrange(50), "num_reports": None, "author_flair_type": "text",
        "total_awards_received": 0, "subreddit": SUBREDDIT, "link_author": sub["author"],
        "likes": None, "replies": "", "user_reports": [], "saved": False, "id": ident,
        "banned_at_utc": None, "mod_reason_title": None, "gilded": 0, "archived": False,
        "collapsed_reason_code": None, "no_follow": True, "author": author,
        "num_comments": 0, "can_mod_post": False, "send_replies": True, "parent_id": parent["name"],
        "score": rng.randrange(50), "author_fullname": f"t2_{_base36(rank + 1000)}", "over_18": False,
        "report_reasons": None, "removal_reason": None, "approved_by": None,
        "controversiality": 0, "body": body, "edited": (when + 300) if state == "edited" else False,
        "top_awarded_type": None, "downs": 0, "author_flair_css_class": None,
        "is_submitter": author == sub["author"], "collapsed": False, "author_flair_richtext": [],
        "author_patreon_flair": False, "body_html": f"<div class=\"md\"><p>{escape(body)}</p>\n</div>",
        "gildings": {}, "collapsed_reason": None, "distinguished": "moderator" if rank < 2 and rng.random() < 0.5 else None,
        "associated_award": None, "stickied": False, "author_premium": False, "can_gild": False,
        "link_id": sub["name"], "unrepliable_reason": None, "author_flair_text_color": None,
        "score_hidden": False, "permalink": f"/r/{SUBREDDIT}/comments/{sub['id']}/post_{sub['id']}/{ident}/",
        "subreddit_type": "public", "link_permalink": f"https://www.reddit.com{sub['permalink']}",
        "name": f"t1_{ident}", "author_flair_template_id": None, "subreddit_name_prefixed": f"r/{SUBREDDIT}",
        "author_flair_text": None, "treatment_tags": [], "created": when, "created_utc": when,
        "awarders": [], "all_awardings": [], "locked": False, "author_flair_background_color": None,
        "collapsed_because_crowd_control": None, "mod_reports": [], "quarantine": False, "mod_note": None,
        "link_url": sub["url"],
    }


def _lang_of(sub: dict) -> str:
    title = sub["title"]
    return "ar" if any("\u0600" <= ch <= "\u06ff" for ch in title[:8]) else (
        "fr" if any(ch in title for ch in "éèçà") else "en")


# -- X --------------------------------------------------------------------------------------------


class _XWriter(_Writer):
    """Recent-search pages, newest first: 100 posts, their authors and replied-to parents."""

    def __init__(self, folder, rng, total, id_offset=0):
        super().__init__(folder, rng, total)
        self.authors = _Authors(rng, total, "x")
        self.sequence = 0
        self.token = 0

    def _id(self, when: float) -> int:
        self.sequence = (self.sequence + 1) & 0x3FFFFF
        return ((int(when * 1000) - X_EPOCH_MS) << 22) | self.sequence

    def month(self, month: int, count: int) -> None:
        rng, text = self.rng, self.text
        start, end = _month_bounds(month)
        n_root = max(1, round(count * 0.4))
        roots = []
        for when in sorted(rng.uniform(start, end) for _ in range(n_root)):
            roots.append(self._tweet(when, month, None, None, text.language(), rng.random() < 0.2))
        replies: list[dict] = []
        by_root: dict[int, list[dict]] = {}
        for index in sorted(_thread_of(rng, n_root, count - n_root)):
            root = roots[index]
            earlier = by_root.setdefault(index, [])
            parent = root if not earlier or rng.random() < 0.5 else rng.choice(earlier)
            when = parent["_when"] + rng.expovariate(1 / 7200)
            reply = self._tweet(when, month, root, parent, _tweet_lang(parent, rng), rng.random() < 0.08)
            earlier.append(reply)
            replies.append(reply)
        self._pages(roots + replies)
        self.posts += count

    def _tweet(self, when, month, root, parent, lang, asks) -> dict:
        rng = self.rng
        rank = self.authors.pick(month)
        ident = self._id(when)
        body = self.text.body(lang, asks, min(3, self.text.sentences()))
        tweet = {
            "_when": when, "_rank": rank,
            "id": str(ident), "text": body, "author_id": str(10_000_000 + rank),
            "created_at": datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "conversation_id": root["id"] if root else str(ident),
            "lang": "und" if rng.random() < 0.03 else lang,
            "public_metrics": {"retweet_count": rng.randrange(20), "reply_count": rng.randrange(10),
                               "like_count": rng.randrange(100), "quote_count": 0,
                               "bookmark_count": 0, "impression_count": rng.randrange(5000)},
            "edit_history_tweet_ids": [str(ident)], "reply_settings": "everyone",
            "possibly_sensitive": False, "source": "Twitter for Android",
        }
        if parent is not None:
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": parent["id"]}]
            tweet["in_reply_to_user_id"] = parent["author_id"]
            tweet["text"] = f"@{self.authors.handle(parent['_rank'])} {body}"
        return tweet

    def _pages(self, tweets: list[dict]) -> None:
        tweets.sort(key=lambda t: int(t["id"]), reverse=True)
        ids = {t["id"]: t for t in tweets}
        for at in range(0, len(tweets), PAGE):
            chunk = tweets[at:at + PAGE]
            on_page = {t["id"] for t in chunk}
            parents = []
            for t in chunk:
                for ref in t.get("referenced_tweets", ()):
                    if ref["id"] not in on_page and ref["id"] in ids:
                        on_page.add(ref["id"])
                        parents.append(ids[ref["id"]])
            users = {}
            for t in chunk + parents:
                rank = t["_rank"]
                users.setdefault(rank, {
                    "id": str(10_000_000 + rank), "username": self.authors.handle(rank),
                    "name": self.authors.handle(rank).replace("_", " ").title(),
                    "created_at": "2015-03-01T10:00:00.000Z",
                    "public_metrics": {"followers_count": 50 + rank % 977, "following_count": 80,
                                       "tweet_count": 1000, "listed_count": 1}})
            self.token += 1
            meta = {"newest_id": chunk[0]["id"], "oldest_id": chunk[-1]["id"],
                    "result_count": len(chunk)}
            if at + PAGE < len(tweets):
                meta["next_token"] = f"b26v89c19zqg8o3f{self.token:010d}"
            page = {"data": [_public(t) for t in chunk],
                    "includes": {"users": list(users.values()), "tweets": [_public(t) for t in parents]},
                    "meta": meta}
            # X sends UTF-8 as is; Reddit escapes everything beyond ASCII.
            self.write("search", json.dumps(page, ensure_ascii=False).encode())


def _public(tweet: dict) -> dict:
    return {k: v for k, v in tweet.items() if not k.startswith("_")}


def _tweet_lang(parent: dict, rng: random.Random) -> str:
    lang = parent["lang"]
    if lang == "und" or rng.random() < 0.15:
        return "en" if rng.random() < 0.55 else "ar"
    return lang


# -- RSS ------------------------------------------------------------------------------------------


class _RssWriter(_Writer):
    """Two WordPress blogs: main feed pages and one comment feed per article."""

    def __init__(self, folder, rng, total, id_offset=0):
        super().__init__(folder, rng, total)
        self.authors = _Authors(rng, total, "b")
        self.index = (folder / "index.jsonl").open("w", encoding="utf-8")
        self.article = id_offset

    def close(self) -> None:
        self.index.close()

    def month(self, month: int, count: int) -> None:
        for number, (blog, lang) in enumerate(BLOGS):
            share = count // len(BLOGS) + (count % len(BLOGS) if number == 0 else 0)
            if share:
                self._blog_month(blog, lang, month, share)
        self.posts += count

    def _blog_month(self, blog: str, lang: str, month: int, count: int) -> None:
        rng, text = self.rng, self.text
        start, end = _month_bounds(month)
        n_items = max(1, round(count * 0.08))
        site = f"https://{blog}.example"
        items = []
        for when in sorted(rng.uniform(start, end) for _ in range(n_items)):
            self.article += 1
            slug = f"{datetime.fromtimestamp(when, timezone.utc):%Y/%m}/article-{self.article}"
            items.append({"when": when, "guid": f"{site}/?p={self.article}", "link": f"{site}/{slug}/",
                          "comments_url": f"{site}/{slug}/feed/", "title": text.title(lang, rng.random() < 0.15),
                          "author": "Hala Mansour" if self.article % 3 else "Editor",
                          "body": text.body(lang, False, 3 + text.sentences()), "comments": []})
        for index in sorted(_thread_of(rng, n_items, count - n_items)):
            item = items[index]
            earlier = item["comments"]
            parent = None if not earlier or rng.random() < 0.6 else rng.choice(earlier)
            when = (parent or item)["when"] + rng.expovariate(1 / 14400)
            self.article += 1
            rank = self.authors.pick(month)
            earlier.append({"when": when, "id": self.article, "parent": parent,
                            "author": self.authors.handle(rank).replace("_", " ").title(),
                            "body": text.body(lang, rng.random() < 0.12, text.sentences())})
        for item in items:
            item["reply_count"] = len(item["comments"])
        items.sort(key=lambda i: i["when"], reverse=True)
        for at in range(0, len(items), FEED_PAGE):
            page = items[at:at + FEED_PAGE]
            file = self.write("feed", _feed_xml(blog, lang, site, page), "xml")
            self._indexed(file, blog, "feed", f"{site}/feed/?paged={at // FEED_PAGE + 1}")
        for item in items:
            if item["comments"]:
                file = self.write("comments", _comments_xml(lang, item), "xml")
                self._indexed(file, blog, "comments", item["comments_url"], item["guid"])

    def _indexed(self, file: str, source: str, kind: str, url: str, item_guid: str | None = None) -> None:
        self.index.write(json.dumps({"file": file, "source": source, "kind": kind, "url": url,
                                     "item_guid": item_guid}) + "\n")


_RSS_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"'
             ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
             ' xmlns:wfw="http://wellformedweb.org/CommentAPI/"'
             ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
             ' xmlns:atom="http://www.w3.org/2005/Atom"'
             ' xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
             ' xmlns:slash="http://purl.org/rss/1.0/modules/slash/">\n<channel>\n')


def _rfc822(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _feed_xml(blog: str, lang: str, site: str, items: list[dict]) -> bytes:
    parts = [_RSS_HEAD, f"<title>{blog}</title>\n<atom:link href=\"{site}/feed/\" rel=\"self\""
             f" type=\"application/rss+xml\" />\n<link>{site}</link>\n<description>A community blog</description>\n"
             f"<lastBuildDate>{_rfc822(items[0]['when'])}</lastBuildDate>\n<language>{lang}</language>\n"
             "<sy:updatePeriod>hourly</sy:updatePeriod>\n<generator>https://wordpress.org/?v=6.4</generator>\n"]
    for item in items:
        paragraphs = "".join(f"<p>{escape(s)}</p>\n" for s in item["body"].split(". "))
        parts.append(
            f"<item>\n<title>{escape(item['title'])}</title>\n<link>{item['link']}</link>\n"
            f"<comments>{item['link']}#comments</comments>\n<dc:creator><![CDATA[{item['author']}]]></dc:creator>\n"
            f"<pubDate>{_rfc822(item['when'])}</pubDate>\n<category><![CDATA[Community]]></category>\n"
            f"<guid isPermaLink=\"false\">{item['guid']}</guid>\n"
            f"<description><![CDATA[{item['body'][:200]} [&#8230;]]]></description>\n"
            f"<content:encoded><![CDATA[{paragraphs}]]></content:encoded>\n"
            f"<wfw:commentRss>{item['comments_url']}</wfw:commentRss>\n"
            f"<slash:comments>{item['reply_count']}</slash:comments>\n</item>\n")
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode("utf-8")


def _comments_xml(lang: str, item: dict) -> bytes:
    comments = sorted(item["comments"], key=lambda c: c["when"], reverse=True)
    parts = [_RSS_HEAD, f"<title>Comments on: {escape(item['title'])}</title>\n"
             f"<atom:link href=\"{item['comments_url']}\" rel=\"self\" type=\"application/rss+xml\" />\n"
             f"<link>{item['link']}</link>\n<description>A community blog</description>\n"
             f"<lastBuildDate>{_rfc822(comments[0]['when'])}</lastBuildDate>\n<language>{lang}</language>\n"]
    for c in comments:
        link = f"{item['link']}#comment-{c['id']}"
        reply = ""
        if c["parent"] is not None:
            parent = c["parent"]
            reply = (f"<p>In reply to <a href=\"{item['link']}#comment-{parent['id']}\">"
                     f"{escape(parent['author'])}</a>.</p>\n")
        parts.append(
            f"<item>\n<title>By: {escape(c['author'])}</title>\n<link>{link}</link>\n"
            f"<dc:creator><![CDATA[{c['author']}]]></dc:creator>\n<pubDate>{_rfc822(c['when'])}</pubDate>\n"
            f"<guid isPermaLink=\"false\">{item['link']}#comment-{c['id']}</guid>\n"
            f"<description><![CDATA[{c['body']}]]></description>\n"
            f"<content:encoded><![CDATA[{reply}<p>{c['body']}</p>\n]]></content:encoded>\n</item>\n")
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode("utf-8")


if __name__ == "__main__":  # python -m majlis.bench.generator DIR SCALE
    import sys

    print(generate(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "100k"))
