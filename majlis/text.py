"""Language and question detection for posts, run by the warehouse when posts are loaded.

`annotate(titles, bodies, langs)` is the one entry point the warehouse needs: it fills the
language where the connector left none and says, per post, whether it asks the community
for an answer (the guideline in tests/fixtures/labels/README.md).

Language: lingua, high-accuracy mode, restricted to the `LANGUAGES` below (measured here:
~12k short texts/s on two cores, ~340 MB resident once the Latin-script models are loaded;
low-accuracy mode needs ~35 MB but called "How often do you fall over?" German). Models load
lazily per script, so a community that writes only Arabic never loads the Latin ones.

Questions: a question mark is where most questions show, but Arabic social text is full
of rhetorical questions and question-shaped headlines, and many real requests carry no
mark at all. So the detector weighs general cues rather than strings seen in the labels:
  - asks the readers (strong, no mark needed): "anyone know", "can someone", "حد يعرف",
    "ما رأيكم", "ممكن حد", "تنصحوني";
  - a real question mark: outside URLs, code and quotations, not an encoding stand-in
    ("ا?مارات", "51? من");
  - against it: the interrobang ("؟!", "?!") as the only mark, a call to read or watch
    elsewhere ("اقرأ المقال", "شاهد", "read more"), "did you know" trivia, sarcasm tags
    ("#سؤال_برئ"), a question that answers itself ("... ? because ..."), classic rhetorical
    forms (negative interrogatives "أليس/ألا/ألم", "هل هكذا", "who cares"), a question made
    of hashtags, and, for Arabic, a question followed by a statement that comments on it.
English questions without a mark count when they open with an interrogative and an
inverted auxiliary ("how do I reset my password"); "What I learned" has no inversion.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from typing import Sequence

__all__ = [
    "LANGUAGES", "annotate", "annotate_questions", "detect_languages", "is_question",
    "normalize_arabic",
]

# ISO 639-1 codes. Broad enough for a global community, small enough to stay fast: every
# extra language of a script is one more model to score for each text in that script.
LANGUAGES = (
    "ar", "en", "fr", "de", "es", "it", "pt", "nl", "af", "tr", "fa", "ur", "he", "ru",
    "id", "zh", "ja", "ko", "hi", "sw",
)
MIN_LETTERS = 10  # below this lingua guesses (measured: "Bongo drums" -> Swahili)
# Lingua's time grows with length; a post's opening says its language as well as the whole
# article does (measured on 10k mixed posts: ~2.6k/s whole, see the report for truncated).
DETECT_CHARS = 400

_detector = None
_detector_lock = threading.Lock()


def _language_detector():
    """Built once per process: building is cheap, the models it loads later are not."""
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [getattr(IsoCode639_1, code.upper()) for code in LANGUAGES]
                _detector = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()
    return _detector


# -- text preparation -------------------------------------------------------------------

_URL = re.compile(r"(?:https?://|www\.)\S+|\]\([^)]*\)", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)[@＠][\w.]+|\bu/[\w-]+|\br/[\w-]+")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
_BLOCKQUOTE = re.compile(r"^\s*(?:>|&gt;).*$", re.MULTILINE)
# Quoted speech: a question inside quotes is someone else's, not the poster's.
_QUOTED = re.compile(r"«[^»]*»|“[^”]*”|\"[^\"\n]{1,200}\"")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u0671-\u06D3\u06FA-\u06FF]")
_PERSO_ARABIC_ONLY = re.compile(r"[پچژگکیٹڈڑںےۓ]")  # letters Arabic itself does not use
_LETTER = re.compile(r"[^\W\d_]")

_DIACRITICS = re.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED]")
_ARABIC_FOLD = str.maketrans({
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ى": "ي", "ی": "ي", "ئ": "ي", "ؤ": "و", "ة": "ه", "ک": "ك",
    "\u0640": None,  # tatweel
    "\u200c": None, "\u200d": None, "\u200e": None, "\u200f": None,
})


def normalize_arabic(text: str) -> str:
    """Fold the spellings Arabic writers use interchangeably, so one cue matches them all.

    Alef with hamza or madda -> bare alef, alef maqsura -> yaa, taa marbuta -> haa,
    hamza on waw/yaa -> the bare letter; diacritics, tatweel and joiners are dropped.
    """
    text = unicodedata.normalize("NFC", text)
    return _DIACRITICS.sub("", text).translate(_ARABIC_FOLD)


def _strip_for_language(text: str) -> str:
    if _may_hold_link(text):
        text = _URL.sub(" ", text)
    if _may_hold_mention(text):
        text = _MENTION.sub(" ", text)
    return text.replace("#", " ").replace("_", " ")


# Cheap tests of whether _URL or _MENTION can match at all: most posts have neither, and
# the scans were a fifth of question detection.
def _may_hold_link(text: str) -> bool:
    return "://" in text or "](" in text or "www." in text.lower()


def _may_hold_mention(text: str) -> bool:
    return "@" in text or "＠" in text or "u/" in text or "r/" in text


def _letters(text: str) -> int:
    return len(_LETTER.findall(text))


def _arabic_share(text: str, letters: int | None = None) -> float:
    letters = _letters(text) if letters is None else letters
    return len(_ARABIC_LETTER.findall(text)) / letters if letters else 0.0


# -- language ---------------------------------------------------------------------------

# Words English writers use in almost every sentence, and words as common in the other
# Latin-script languages we detect. Plain-ASCII text with several of the first and none of
# the second is English without asking lingua, which manages ~1.2k English posts/s here (two
# cores) and was most of ingest. Of the posts this path takes, lingua also said "en" for
# all 4,143 generated and all 230 real ones (labelled files, recorded pages): docs/benchmarks.md.
_EN_FUNCTION_WORDS = frozenset(
    "the and you that this with have what for was are not but they my of to it i how does can "
    "would should is anyone your just about there their it's i'm don't can't been has".split())
_OTHER_LATIN_WORDS = frozenset(
    # fr, es, it, pt, de, nl, af, tr, id, sw
    "je tu il le la les et est pas pour une des du que qui dans el los las y es por para con "
    "una lo se del pero che di non per sono della gli o os um em da com der die das und ist "
    "nicht ich ein eine mit zu den auf sie het een van ik niet zijn op voor dat ook nie ve bir "
    "bu yang dan ini itu tidak saya ya na wa kwa ni".split())
_ASCII_WORD = re.compile(r"[a-z']+")
_MIN_ENGLISH_WORDS = 3


def _clearly_english(text: str) -> bool:
    if not text.isascii():
        return False
    words = _ASCII_WORD.findall(text.lower())
    english = sum(word in _EN_FUNCTION_WORDS for word in words)
    if english < _MIN_ENGLISH_WORDS or english < 0.2 * len(words):
        return False
    return not any(word in _OTHER_LATIN_WORDS for word in words)


def detect_languages(texts: Sequence[str | None]) -> list[str | None]:
    """ISO 639-1 code per text, or None when the text is too short or too mixed to tell.

    Text in Arabic script with none of the Persian/Urdu letters is Arabic without asking
    lingua: that is most of our non-Latin text, and the Arabic-script models are large.
    """
    out: list[str | None] = [None] * len(texts)
    pending_index: list[int] = []
    pending_text: list[str] = []
    for i, text in enumerate(texts):
        if not text:
            continue
        cleaned = _strip_for_language(text)
        letters = _letters(cleaned)
        if letters < MIN_LETTERS:
            continue
        if _arabic_share(cleaned, letters) > 0.6 and not _PERSO_ARABIC_ONLY.search(cleaned):
            out[i] = "ar"
            continue
        if _clearly_english(cleaned):
            out[i] = "en"
            continue
        pending_index.append(i)
        pending_text.append(cleaned[:DETECT_CHARS])
    if pending_text:
        found = _language_detector().detect_languages_in_parallel_of(pending_text)
        for i, language in zip(pending_index, found):
            out[i] = language.iso_code_639_1.name.lower() if language is not None else None
    return out


# -- questions --------------------------------------------------------------------------

def _ar(pattern: str) -> re.Pattern:
    """An Arabic cue, written naturally and folded like the text it is matched against."""
    return re.compile(normalize_arabic(pattern))


def _en(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


_AR_SOMEONE = r"(?:حد|احد|أحد|(?<!اي )واحد|فيه حد|في حد|هل من احد|هل يوجد احد|هل في احد|مين|من)"
_AR_ASKS_READERS = [
    # someone who knows / has / tried ...; "لا أحد يعلم" (no one knows) and "أي واحد عنده
    # ... يعرف" (anyone who has ... knows) are statements, hence the look-behinds.
    _ar(r"(?<!لا )(?<!ما )(?<!مافي )(?<!كل )\b[وف]?" + _AR_SOMEONE + r"\s+(?:هنا\s+)?"
        r"(?:يعرف|يعرفلي|تعرف|يعلم|عنده|عندو|عندها|لديه|جرب|جربت|يقدر|يساعد|يساعدني|يفيد|يفيدني|"
        r"يدلني|يدلنا|ينصح|ينصحني|متابع|شاف|سمع|استخدم|يشرح|يفهم|عارف)"),
    # what do you think ... (in MSA and dialects)
    _ar(r"(?:^|[\s#_:,،.()])[فو]?(?:ما|ماهو|وش|ايش|شو|ايه|إيه|شنو|شنهو|شلون)\s+(?:هو\s+)?رأي(?:ك|كم|كن|كو)\b"),
    _ar(r"\bرأي(?:ك|كم)\s+(?:ايه|إيه|ايش|وش|شو)\b"),
    _ar(r"\b(?:اعرف|نعرف|اسمع|اشوف|معرفة)\s+رأي(?:كم|كو)\b"),
    # can someone / may I ask
    _ar(r"\bممكن\s+(?:حد|احد|أحد|مساعده|مساعدة|تساعد|تفيد|تقولي|تقولو|تقولولي|سؤال|استفسار|اسأل|اسال|تدلوني|تنصحوني)"),
    _ar(r"\b(?:ساعدوني|أفيدوني|افيدوني|انصحوني|تنصحوني|تنصحونني|دلوني|تنصحون|تنصحوا|بماذا تنصح|ماذا تنصح|"
        r"شو بتنصحو|وش تنصحون|ايش تنصحون|عندي سؤال|عندي استفسار|لدي سؤال|لدي استفسار|"
        r"محتاج مساعده|محتاجه مساعده|احتاج مساعده|أحتاج مساعدة|أحتاج مساعده|ابي مساعده|اريد مساعده|"
        r"ارجو المساعده|أرجو الإفادة|ارجو الافاده|ياريت حد|يا ريت حد|لو سمحتوا|لو سمحتم)"
        r"|\b(?:ياريت|يا ريت)\s+(?:حد\s+)?(?:يبعت|تبعت|تقول|يقول|تفيد|يفيد|تساعد|يساعد|تدل|يدل)"),
    # is anyone willing / if someone has it, send it to me
    _ar(r"\bهل\s+(?:يتطوع|يستطيع|يقدر|يعرف|يملك|لدى)\s+(?:احد|أحد|حد)\b"
        r"|\b(?:لو|اذا|إذا)\s+(?:فيه|في|هناك|كان فيه)\s+(?:حد|احد|أحد)\b"
        r"|\bهل\s+(?:من|هناك|هنالك|يوجد|في|فيه)\s+(?:احد|أحد|حد|مجيب|مساعد|افكار|أفكار|فكره|اقتراح|اقتراحات|"
        r"معلومات|معلومه|نصيحه|نصائح|ترشيح|ترشيحات)\b"),
    # do you know / have you tried (second person plural addressed to readers)
    _ar(r"^\s*(?:هل|حد|فيه|في)?\s*(?:تعرفون|تعرفوا|عندكم|لديكم|جربتم|جربتوا|سمعتم|سمعتوا|شفتوا|تنصحون)\b"),
]

_EN_ASKS_READERS = [
    _en(r"\b(?:does|do|did|has|have|is|can|could|would|will)\s+(?:any|some)\s*(?:one|body)\b"),
    _en(r"\b(?:any|some)\s*(?:one|body)\s+(?:here\s+)?(?:know|knows|have|has|got|tried|used|using|"
        r"recommend|able|willing|remember|seen|heard|care to|wanna|want to|else)\b"),
    _en(r"\b(?:any|got any)\s+(?:tips|ideas?|suggestions?|recommendations?|advice|thoughts|pointers|clues?|"
        r"help|insight|experience)\b"),
    _en(r"\bwhat\s+(?:do|would|should)\s+(?:you|y'?all)\s+(?:guys\s+|all\s+|folks\s+)?(?:think|recommend|suggest|advise|do)\b"),
    _en(r"\b(?:please|pls|plz)\s+help\b|\bhelp\s+(?:me|needed|please|wanted)\b|\bneed(?:s|ing)?\s+(?:some\s+)?(?:help|advice)\b"),
    _en(r"\blooking for\s+(?:some\s+)?(?:advice|help|recommendations?|suggestions?|tips|input)\b"),
    _en(r"\bi(?:'m| am)?\s+(?:was\s+)?wondering\s+(?:if|whether|how|what|why|where|when|who)\b"),
    _en(r"\bi(?:'d| would)\s+(?:like|love)\s+to\s+know\b|\bcan\s+(?:you|u)\s+(?:please\s+)?(?:help|tell|explain|recommend)\b"),
]

_EN_WH = r"(?:what|how|why|where|when|who|whom|whose|which)"
_EN_AUX = (r"(?:do|does|did|can|could|should|would|will|shall|may|might|must|is|are|was|were|"
           r"have|has|had|am)")
_EN_SUBJECT = r"(?:i|you|we|they|he|she|it|there|this|that|these|those|one|u|anyone|someone|anybody|somebody|my|your|our|the|a)"
_EN_PERSON = r"(?:i|you|u|we|they|he|she|there|anyone|someone|anybody|somebody)"
# "how do I reset my password": interrogative + inverted auxiliary, or a fronted auxiliary
# before a person ("Do it", "Have a nice day" are imperatives). "What I learned" / "How we
# scaled" have no inversion and stay statements.
_EN_QUESTION_OPENING = _en(
    rf"^(?:{_EN_WH}(?:'s|'re|\s+{_EN_AUX}(?:n't)?)\s+{_EN_SUBJECT}\b|{_EN_AUX}(?:n't)?\s+{_EN_PERSON}\b)"
)
_EN_HEADLINE_OPENING = _en(rf"^{_EN_WH}\s+(?:i|we|you|they|he|she|it|my|our)\s+(?!{_EN_AUX}\b)\w+")

# Pointing readers elsewhere for the answer: teasers, headlines, episode promos.
_AR_ELSEWHERE = _ar(
    r"(?:^|[#\-|:])\s*(?:اقرأ|اقرا|شاهد|شاهدوا|تابع|تابعوا|تابعونا|استمع|استمعوا|اضغط)(?=[\s:\-_|]|$)"
    r"|\b(?:اقرأ|اقرا|شاهدوا|تابعوا|تابعونا|استمعوا|اضغط)\b"
    r"|\b(?:على|في|عبر) الرابط\b|\bالرابط التالي\b|\bالتفاصيل\b|\bبالفيديو\b|\bالمقال كامل|\bبعد قليل\b|\bانتظرونا\b"
)
_EN_ELSEWHERE = _en(
    r"\bread (?:more|the (?:full )?(?:article|story|post))\b|\b(?:watch|listen) now\b|\bclick (?:here|the link)\b"
    r"|\blink in (?:bio|comments)\b|\bfull story\b|\btune in\b"
    r"|\b(?:find out|learn) (?:more|why|how) (?:here|in|at|below|on)\b"
)
# Headlines that promise the answer: "what every woman should know about ...?"
_HEADLINE = _ar(
    r"\bما (?:الذي )?(?:يجب|ينبغي) (?:ان )?(?:تعرف|تعرفي|تعرفه|تعرفيه|معرفته)|\bكل ما (?:تريد|تحتاج|يجب)"
    r"|(?:^|\s)(?:اليك|اليكم|اليكي)\s"
), _en(
    r"\bwhat (?:you|every \w+) (?:need|should|must) (?:to )?know\b|\beverything you need to know\b"
    r"|\bhere'?s (?:why|how|what)\b|\b\d+ (?:ways|reasons|things|tips|signs)\b"
)
_TRIVIA = _ar(r"\bهل تعلم\b|\bهل تعرف ان\b"), _en(r"\bdid you know\b|^til\b|\bfun fact\b")
_SARCASM = _ar(r"#سؤال_بري|#سؤال_برئ|#سؤال_برىء|#سوال_بري|#بريء"), _en(r"#(?:justasking|asking ?for ?a ?friend|not ?really)\b|\bjust saying\b|/s\b")
# Negative interrogatives ("أليس", colloquial "مش") open a clause that argues; elsewhere
# "مش" is plain negation ("ليه الموقع مش شغال؟"), hence anchored at the clause start.
_AR_RHETORICAL = _ar(
    r"^\s*[وف]?(?:اليس|الا|الم|أليس|ألا|ألم|مش|مو|مب|موب)\s"
    r"|(?:^|\s)(?:هل هكذا|هكذا|الى متى|إلى متى|حتى متى|لحد امتى|كيف لا|من يصدق|ايعقل|أيعقل|هل يعقل)\s"
)
_EN_RHETORICAL = _en(
    r"\b(?:who cares|who knew|guess what|you know what|what could (?:possibly )?go wrong|are you kidding|"
    r"how (?:cool|awesome|great|cute|sad|dare)\b|isn't it (?:ironic|funny|great|sad)|what's not to (?:like|love)|"
    r"why not\?|am i right|who does that|you (?:do )?reali[sz]e)"
)
_EN_INTERJECTION = _en(r"(?:what|huh|really|seriously|wait|why|how|eh|srsly|rly|wtf|what the \w+)")
_EN_RETORT_WORDS = 6
_EN_ASKS_YOU = _en(r"\b(?:do|did|can|could|would|will|have|are)\s+(?:you|u|y'?all)\s+(?!really\b|even\b|seriously\b)\w+")
_EN_FIRST_PERSON = _en(r"\b(?:i|i'm|i've|i'd|i'll|im|ive|me|my|mine|we|we're|we've|us|our|thanks|thank|thx|ty|please|pls|plz|help|edit)\b")
_SELF_ANSWER = _ar(r"[?؟]\s*(?:[-–—:]\s*)?(?:لان|لأن|الجواب|الاجابه|الإجابة|والجواب|يعني|الحل)\b"), \
    _en(r"\?\s*(?:[-–—:]\s*)?(?:because|the answer is|answer:|simple:|easy:)\b")

_AR_INTERROGATIVE = _ar(
    r"(?:^|[\s#])[فو]?(?:هل|كيف|لماذا|لما|ليش|ليه|متى|امتى|أين|وين|فين|ماذا|شو|ايش|ايه|وش|ما|من|مين|منو|كم|كام|"
    r"أي|اي|ايهما|أيهما|ازاي|إزاي|شلون|اشلون|علاش|واش|هو|هي)(?=[\s_?؟]|$)"
)
# Readers addressed in the plural (or politely): "عجبتكم", "تعليقكم", "تعرفوا", "حضرتك". Arabic
# drops subject pronouns, so a bare singular "انت" is emphatic: it argues with one person
# ("انت فعلا مصدق الكلام ده؟"; none of the 14 labelled Arabic posts asking so was a real question).
_AR_SECOND_PERSON = _ar(r"\b(?:انتم|انتو|حضرتك|حضرتكم|(?!ال)[^\W\d_]{2,}(?<!ح)كم|ت[^\W\d_]{2,}(?:ون|وا|ونه|ونها|ونهم|وني|وه|وها)|من فضلك|من فضلكم|لو سمحت)\b")
_AR_EMPHATIC_YOU = _ar(r"\b[وف]?(?:انت|انتي|إنت|إنتي)\b")
# Addressed to God or to a named third party, not to the community reading it.
_AR_PRAYER = _ar(r"\b(?:اللهم|يا رب|يارب|ياربي|يا الله|ربنا)\b")
_AR_VOCATIVE = _ar(
    r"\bيا\s?(?!جماعه|جماعة|شباب|ناس|اخوان|اخوتي|اخواني|اخوه|اصدقاء|اصدقائي|بنات|احباب|أحباب|متابعين|"
    r"متابعيني|اعضاء|رفاق|حلوين|ريت|ترى|رب|الله)[^\W\d_]{2,}"
)
# A shared headline or programme: outlet pipes ("الوطن | ..."), a byline after the question
# ("؟ - عمرو حمزاوي"), "writes an article titled", the host's guests tonight. A post cut off
# by the sharing button (a trailing "…") is a shared item too, unless it asks readers.
_AR_BROADCAST = _ar(
    r"\||[?؟]\s*[-–—]\s*[^\W\d_]|\b(?:يكتب|بعنوان|الحلقه|بتوقيت|ضيوفي|يستضيف|يستضيفني)\b"
)
_CUT_OFF = re.compile(r"…\s*#?\s*$")
# A question tagged to win agreement, not an answer: "... ولا ايه؟", "... صح؟".
_AR_TAG_QUESTION = _ar(r"(?:\bولا (?:ايه|إيه|ايش|شو|وش|اي)|\bصح)\s*[?؟]")
# A member asking at length says who needs the answer (I, you) or asks how to do something;
# a long question about third parties that does neither argues (measured on the labelled
# tweets: 2 of 30 real questions run past 12 words without either, 24 of 55 rhetorical do).
_AR_LONG_QUESTION_WORDS = 12
_AR_OPINION_OF_READER = _ar(
    r"\b(?:برايك|برأيك|رايك|رأيك|بنظرك|تعليقك|تنصحني|استطلاع رأي|"
    r"(?:ت|ست)(?:ود|حب|ريد|رى|راه|فضل|قترح|توقع|عتقد|ظن|نصح|سمي|سميه)(?:ون|وا)?)\b")
_AR_HOW_TO = _ar(r"\b(?:طريقه|طريقة|يوجد|يمكن|ممكن|ينفع|اقدر|أقدر|نقدر|الحل|حل)\b")
_AR_MAX_QUESTION_CLAUSES = 3  # more is a barrage of rhetorical questions, not a request
_AR_HASHTAGS_AFTER_MARK = 3  # a question, then a string of hashtags: a broadcast

# "Name: question?" is a headline quoting someone, not a member asking.
_AR_ATTRIBUTION = _ar(r"^[^:?؟\n]{2,40}:(?!\s*(?:سؤال|استفسار|مساعده|ملاحظه))")
_AR_SHORT_QUESTION_WORDS = 6
_AR_UNADDRESSED_TAIL_WORDS = 3
# A letter held for effect ("فييييين", "هههههه", "أووووفر"): exclaiming or laughing.
_ELONGATED = re.compile(r"([^\W\d_])\1{3,}")
# "يعني" inside a question ("يعني اخوان لوط ناس طاهرة؟", "هو كمان يعني؟") mocks; "يعني ايه
# ...؟" asks what something means.
_AR_MOCKING = _ar(r"\bيعني\b(?!\s+(?:ايه|إيه|ايش|شو|وش|اي|ماذا|كده))")
_AR_FIRST_PERSON = _ar(
    r"\b(?:انا|أنا|عندي|لدي|حاولت|جربت|بحثت|دورت|سويت|ابي|ابغى|اريد|أريد|بدي|عايز|عاوز|محتاج|"
    r"احتاج|أحتاج|شكرا|مقدما|مشكلتي|جهازي|حسابي|(?!ال)[^\W\d_]{2,}ني)\b"
)

_MARK_RUN = re.compile(r"[?؟¿？!]+(?:\s*[?؟¿？!]+)*")
_QMARK_ANY = re.compile(r"[?؟¿？]")
_HASHTAG = re.compile(r"#\w+")
_WORD = re.compile(r"[^\W\d_]{2,}")
_SENTENCE_END = re.compile(r"(?<=[.!?؟？\n])\s+")


def _script_language(text: str) -> str | None:
    share = _arabic_share(text)
    if share > 0.5:
        return "ar"
    if _letters(text) and share < 0.1 and text.isascii():
        return "en"
    return None


def _prepare(text: str) -> str:
    # Each substitution only where its pattern can match (most posts have no code, quote,
    # link or mention).
    if "`" in text:
        text = _CODE.sub(" ", text)
    if ">" in text or "&gt;" in text:
        text = _BLOCKQUOTE.sub(" ", text)
    if _may_hold_link(text):
        text = _URL.sub(" ", text)
    if _may_hold_mention(text):
        text = _MENTION.sub(" @ ", text)
    return text.strip()


def _real_question_marks(text: str) -> list[re.Match]:
    """Question marks that end a question, not ones standing in for a lost character.

    A "?" between two letters or after a digit in Arabic text stands for a character the
    encoding lost ("ا?مارات", "51? من الأصوات"); Arabic writers use "؟" for questions.
    """
    marks = []
    for match in _QMARK_ANY.finditer(text):
        i = match.start()
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < len(text) else " "
        if _LETTER.match(before) and _LETTER.match(after) and match.group() == "?":
            continue  # "ا?مارات": an encoding stand-in inside a word
        if before.isdigit() and _ARABIC_LETTER.search(text):
            continue  # "51? من": a lost "%" or digit in Arabic text
        if before in "\"'" and _LETTER.match(after):
            continue
        marks.append(match)
    return marks


def _in_interrobang(text: str, at: int) -> bool:
    """Is the mark at `at` part of a run like "؟!", "?!!" or "؟؟؟!!!": exclaiming, not asking."""
    for run in _MARK_RUN.finditer(text):
        if run.start() <= at < run.end():
            return "!" in run.group()
    return False


def _question_sentences(text: str, marks: list[re.Match]) -> list[str]:
    """The clause each mark closes: from the previous sentence end to the mark."""
    out = []
    for match in marks:
        start = max(text.rfind(ch, 0, match.start()) for ch in ".!?؟？\n:")
        out.append(text[start + 1:match.start()].strip())
    return out


def _mostly_hashtags(clause: str) -> bool:
    words = clause.split()
    if not words:
        return True
    return sum(w.startswith("#") for w in words) / len(words) >= 0.6


def _words_after_last_mark(text: str, marks: list[re.Match]) -> list[str]:
    tail = _HASHTAG.sub(" ", text[marks[-1].end():])
    return _WORD.findall(tail)


def _without_quotations(text: str) -> str:
    """Drop quoted speech, unless the quote is the whole post (a pasted or retweeted text)."""
    if "«" not in text and "“" not in text and '"' not in text:
        return text
    rest = _QUOTED.sub(" ", text)
    return rest if len(_WORD.findall(rest)) >= 2 else text


def _any_of(cues: list[re.Pattern]) -> re.Pattern:
    """One pattern matching where any cue does: the text is scanned once, not once per cue."""
    return re.compile("|".join(f"(?:{cue.pattern})" for cue in cues), cues[0].flags)


_ASKS_READERS = {"ar": _any_of(_AR_ASKS_READERS), "en": _any_of(_EN_ASKS_READERS)}


def _asks_readers(text: str, lang: str) -> bool:
    cue = _ASKS_READERS.get(lang)
    return cue is not None and cue.search(text) is not None


def _opens_like_english_question(text: str) -> bool:
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip(" \t\"'*-[](){}")
        if _EN_HEADLINE_OPENING.match(sentence):
            continue
        if _EN_QUESTION_OPENING.match(sentence) and len(sentence.split()) <= 25:
            return True
    return False


_ANY_LATIN = re.compile(r"[a-z]", re.IGNORECASE)  # the folding the English cues match with


def _scripts_in(text: str) -> tuple[bool, bool]:
    return _ARABIC_LETTER.search(text) is not None, _ANY_LATIN.search(text) is not None


def _for_scripts(pair: tuple[re.Pattern, re.Pattern], scripts: tuple[bool, bool]) -> list[re.Pattern]:
    """The (Arabic, English) cues that can match: each needs a letter of its own script, so
    a text without one cannot match it (skipping saved a quarter of question detection)."""
    return [cue for cue, present in zip(pair, scripts) if present]


def _ruled_out(low: str, scripts: tuple[bool, bool]) -> bool:
    """Sarcasm, trivia and headlines: phrased as questions, never asking."""
    return any(p.search(low) for p in
               _for_scripts(_SARCASM, scripts) + _for_scripts(_TRIVIA, scripts) + _for_scripts(_HEADLINE, scripts))


def _single_text_is_question(text: str | None, lang: str | None) -> bool:
    if not text or not text.strip():
        return False
    text = _prepare(text)
    lang = lang or _script_language(text)
    if lang == "ar" or (lang is None and _ARABIC_LETTER.search(text)):
        text, lang = normalize_arabic(text), "ar"
    low = text.lower()
    scripts = _scripts_in(low)
    unquoted = _without_quotations(low)
    marks = _real_question_marks(unquoted)
    if not marks:
        # Most posts: only a request to readers or an English question's opening can make
        # them ask, so the filters are tried only after one of those matched.
        asks = _asks_readers(unquoted, lang) or (lang == "en" and _opens_like_english_question(unquoted))
        return asks and not _ruled_out(low, scripts)
    if _ruled_out(low, scripts):
        return False
    if _asks_readers(unquoted, lang):
        return True
    plain = [m for m in marks if not _in_interrobang(unquoted, m.start())]
    if not plain:
        return False  # "؟!" alone: an exclamation dressed as a question
    elsewhere = _AR_ELSEWHERE if lang == "ar" else _EN_ELSEWHERE
    if elsewhere.search(unquoted):
        return False
    if any(p.search(unquoted) for p in _for_scripts(_SELF_ANSWER, scripts)):
        return False
    clauses = [c for c in _question_sentences(unquoted, plain) if not _mostly_hashtags(c)]
    if not clauses:
        return False
    rhetorical = _AR_RHETORICAL if lang == "ar" else _EN_RHETORICAL if lang == "en" else None
    if rhetorical is not None:
        if lang == "en" and rhetorical.search(unquoted):
            return False  # one sarcastic turn colours the post's other questions too
        clauses = [c for c in clauses if not rhetorical.search(c + " ?")]
        if not clauses:
            return False
    if lang == "ar":
        return _arabic_clauses_ask(unquoted, clauses, plain)
    if lang == "en":
        return _english_clauses_ask(unquoted, clauses, plain)
    return True


def _english_clauses_ask(text: str, clauses: list[str], marks: list[re.Match]) -> bool:
    """A question that goes on to argue with someone else ("You can't see the difference?
    Making fun of ...") is a retort; one followed by the asker's own situation is context."""
    if all(_EN_INTERJECTION.fullmatch(c.strip(" *_-\"'")) for c in clauses):
        return False  # "What? I'm using sync ...": surprise, not a question
    if any(_EN_ASKS_YOU.search(c) for c in clauses):
        return True
    tail = _HASHTAG.sub(" ", text[marks[-1].end():])
    return len(tail.split()) < _EN_RETORT_WORDS or bool(_EN_FIRST_PERSON.search(tail))


def _arabic_clauses_ask(text: str, clauses: list[str], marks: list[re.Match]) -> bool:
    """Arabic social text asks rhetorically so often that a mark alone is not enough."""
    if _AR_PRAYER.search(text) or _AR_BROADCAST.search(text) or _AR_TAG_QUESTION.search(text):
        return False
    if len(_HASHTAG.findall(text[marks[-1].end():])) >= _AR_HASHTAGS_AFTER_MARK:
        return False
    tail = _words_after_last_mark(text, marks)
    if len(tail) >= 4 and not _AR_FIRST_PERSON.search(" ".join(tail)):
        # Asks, then comments on others: arguing. Going on about oneself ("جربت أكثر من
        # مرة") is the asker giving context, which help requests do.
        return False
    addressed = [c for c in clauses if not _AR_VOCATIVE.search(c) and (
        _AR_SECOND_PERSON.search(c) or _AR_OPINION_OF_READER.search(c))]
    if addressed:
        # "استطلاع رأي: هل تعتقد ...؟" and a shared item cut off by the sharing button ("هل
        # توافقونه الرأي؟ …") still ask readers.
        return len(clauses) < _AR_MAX_QUESTION_CLAUSES
    if _CUT_OFF.search(text) or _AR_ATTRIBUTION.search(text) or len(clauses) > 1:
        # Asked of no one in particular, and more than once: a barrage that argues (1 of the 52
        # such labelled Arabic posts was a real question).
        return False
    if len(tail) >= _AR_UNADDRESSED_TAIL_WORDS and not _AR_FIRST_PERSON.search(" ".join(tail)):
        return False  # "انخضع للإرهاب؟ هذا ليس حل": the asker answers or comments
    return _unaddressed_clause_asks(text, clauses[0])


def _unaddressed_clause_asks(text: str, clause: str) -> bool:
    if _AR_VOCATIVE.search(clause) or _AR_EMPHATIC_YOU.search(clause) or _AR_MOCKING.search(clause):
        return False
    if _ELONGATED.search(text):
        return False
    words = [w for w in clause.split() if not w.startswith("#")]
    if len(words) > _AR_LONG_QUESTION_WORDS and not (
            _AR_FIRST_PERSON.search(text) or _AR_HOW_TO.search(clause)):
        return False  # a long question about others, asked of no one: arguing
    if _AR_INTERROGATIVE.search(clause):
        return True
    return len(words) <= _AR_SHORT_QUESTION_WORDS  # "عملت محضر ؟": yes/no needs no particle


def is_question(text: str | None, lang: str | None, title: str | None = None) -> bool:
    """Does this post ask the community for an answer? A title asks for its post."""
    return _single_text_is_question(title, lang) or _single_text_is_question(text, lang)


def annotate_questions(
    bodies: Sequence[str | None], langs: Sequence[str | None],
    titles: Sequence[str | None] | None = None,
) -> list[bool]:
    titles = titles if titles is not None else [None] * len(bodies)
    return [is_question(body, lang, title) for body, lang, title in zip(bodies, langs, titles)]


def annotate(
    titles: Sequence[str | None], bodies: Sequence[str | None], langs: Sequence[str | None],
) -> tuple[list[str | None], list[bool]]:
    """Fill missing languages and flag questions, for a batch of posts.

    Languages a connector already knows (a feed's xml:lang, X's `lang`) are kept; only the
    missing ones are detected, in one parallel lingua call.
    """
    filled = fill_languages(titles, bodies, langs)
    return filled, annotate_questions(bodies, filled, titles)


def fill_languages(
    titles: Sequence[str | None], bodies: Sequence[str | None], langs: Sequence[str | None],
) -> list[str | None]:
    """`annotate`'s languages: the known ones normalised, the missing ones detected."""
    if not (len(titles) == len(bodies) == len(langs)):
        raise ValueError(
            f"annotate needs one title, body and lang per post; got {len(titles)}, "
            f"{len(bodies)} and {len(langs)}"
        )
    filled = [_known_language(lang) for lang in langs]
    missing = [i for i, lang in enumerate(filled) if lang is None]
    if missing:
        texts = [" ".join(t for t in (titles[i], bodies[i]) if t) for i in missing]
        for i, lang in zip(missing, detect_languages(texts)):
            filled[i] = lang
    return filled


def _known_language(lang: str | None) -> str | None:
    """"en-US", "ar_EG", "AR" -> the ISO 639-1 part; "und" and "" -> unknown."""
    if not lang:
        return None
    code = re.split(r"[-_]", lang.strip())[0].lower()
    return code if len(code) == 2 else None
