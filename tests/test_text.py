"""majlis.text: language detection, Arabic normalisation and question detection."""
from __future__ import annotations

from pathlib import Path

import pytest

from majlis import eval_questions
from majlis.text import annotate, detect_languages, is_question, normalize_arabic

LABELS = Path(__file__).parent / "fixtures" / "labels"

# Written for these tests in the style of community comments (forum and blog), not taken
# from the labelled files: they check that the cues generalise beyond tweets and Reddit.
QUESTIONS = [
    # Arabic interrogatives, with and without "؟"
    ("كيف أغير كلمة المرور؟", "ar"),
    ("هل يوجد طريقة لتحميل الملف بدون حساب؟", "ar"),
    ("وين ألاقي رابط التسجيل؟", "ar"),
    ("ليش الموقع ما يفتح عندي؟", "ar"),
    ("متى يبدأ التسجيل؟", "ar"),
    ("شو الحل لهالمشكلة؟", "ar"),
    ("إزاي أسجل في الموقع؟", "ar"),
    ("هل في برنامج يحول الملفات؟", "ar"),
    ("مقال رائع، لكن ما هو الفرق بين النسختين؟", "ar"),
    # Arabic requests to readers, no question mark
    ("حد يعرف مطعم كويس في جدة", "ar"),
    ("ممكن حد يساعدني في تثبيت البرنامج", "ar"),
    ("ما رأيكم في التحديث الجديد", "ar"),
    ("عندي سؤال بخصوص الاشتراك", "ar"),
    # the asker going on about their own situation after the question
    ("اشتريت الكتاب بس ما وصلني الرابط، كيف أحصل عليه؟ جربت أكثر من مرة", "ar"),
    # a reader asking about the article itself is no headline; a conjunction does not hide a request
    ("هل يوجد نسخة إنجليزية من المقال؟", "ar"),
    ("شفت الإعلان ومين عارف موعد الحلقة الجاية؟", "ar"),
    ("بعد التحديث الأخير ما الذي تود أن تراه في المنتدى؟", "ar"),
    # addressed to readers: under a heading, asking for suggestions, or asking whoever has it
    ("استطلاع رأي: هل تفضلون اللقاء الشهري يوم الجمعة أم السبت؟", "ar"),
    ("هل هناك اقتراحات لكتب عن إدارة المجتمعات؟", "ar"),
    ("لو فيه حد عنده تسجيل المحاضرة يبعتهولي", "ar"),
    # a question, then the asker's own situation, or a request to a named reader
    ("Is there a way to export my data? I tried the settings page but nothing happens", "en"),
    ("Can you share the slides? The link in the post is broken and the page shows an error.", "en"),
    # English without "?"
    ("how do I reset my password", "en"),
    ("anyone know a good dentist in Leeds", "en"),
    ("Does anyone have the slides from today", "en"),
    ("Can someone explain the new rules", "en"),
    ("Is there a way to export my data", "en"),
    ("I was wondering if the event is still on", "en"),
    ("Any recommendations for a beginner camera?", "en"),
    ("Where is the meeting tomorrow?", "en"),
    # any language by punctuation
    ("¿Alguien sabe dónde está la reunión?", "es"),
    ("Quelqu'un sait où est la réunion ?", "fr"),
    ("会議はどこですか？", "ja"),
    ("Where is the meeting tomorrow?", None),
]

NOT_QUESTIONS = [
    # headlines and teasers whose answer is elsewhere
    ("هل يحاسب الكاتب على خياله ؟! اقرأ المقال", "ar"),
    ("شاهد: كيف تحمي حسابك من الاختراق؟", "ar"),
    ("What I learned from running a community for ten years", "en"),
    ("How we scaled our forum to a million members", "en"),
    ("Why you should never skip breakfast", "en"),
    # rhetorical, trivia, self-answered, quoted
    ("ألا يستحق هذا الشعب حياة كريمة؟", "ar"),
    ("هل تعلم؟ النحل يرقص ليتواصل", "ar"),
    ("لماذا نكتب؟ لأن الكتابة تحررنا", "ar"),
    ("Who cares?", "en"),
    ("Did you know? Honey never spoils.", "en"),
    ("Why do we do this? Because we love it.", "en"),
    ('He asked me "why are you here?" and left.', "en"),
    # bylines, barrages, tag questions, retorts
    ("هل تنجح الخطة الجديدة؟ - بقلم أحمد علي", "ar"),
    ("ماذا حدث في الاجتماع؟ ولماذا تأخر القرار؟ ومن المسؤول عن كل هذا؟", "ar"),
    ("رفعوا الاشتراك مرة ثانية، هو ده التطوير ولا ايه؟", "ar"),
    # asked of no one: mocking, arguing with one person, a barrage, exclaiming, then commenting
    ("يعني الإدارة ناس فاهمة؟", "ar"),
    ("انت فعلا مصدق الكلام ده؟", "ar"),
    ("ما هذا؟ ولماذا سكتت الإدارة؟", "ar"),
    ("فيييين الإدارة؟", "ar"),
    ("ينفع كده؟ ده مش تطوير خالص", "ar"),
    ("You really think that's fair? Nobody asked for this change and the team ignored every comment.", "en"),
    ("What? That makes no sense.", "en"),
    # statements, prayers, exclamations
    ("اللهم ارحمنا برحمتك", "ar"),
    ("شكرا جزيلا على المقال", "ar"),
    ("لا أحد يعلم أين ذهب", "ar"),
    ("Great post, thanks!", "en"),
    ("What a day!", "en"),
    ("Wait til you see the results.", "en"),
    ("Do it already.", "en"),
    # a "?" that is not a question mark
    ("Check this out https://example.com/page?id=3", "en"),
    ("مبروك للفائزين في ا?مارات", "ar"),
    ("حصل على 51? من الأصوات", "ar"),
    ("", "en"),
    (None, None),
]


@pytest.mark.parametrize(("text", "lang"), QUESTIONS)
def test_question_is_detected(text, lang):
    assert is_question(text, lang)


@pytest.mark.parametrize(("text", "lang"), NOT_QUESTIONS)
def test_non_question_is_not_detected(text, lang):
    assert not is_question(text, lang)


@pytest.mark.parametrize(("written", "folded"), [
    ("أين", "اين"), ("إلى", "الي"), ("آخر", "اخر"), ("ٱلله", "الله"),  # alef forms
    ("مدرسة", "مدرسه"),  # taa marbuta
    ("مسؤول", "مسوول"), ("سئل", "سيل"),  # hamza on waw / yaa
    ("كيــــف", "كيف"),  # tatweel
    ("كَيْفَ", "كيف"), ("شكراً", "شكرا"),  # diacritics
    ("ی", "ي"), ("ک", "ك"),  # Persian letter forms
])
def test_arabic_normalisation_folds_spelling_variants(written, folded):
    assert normalize_arabic(written) == folded


@pytest.mark.parametrize("text", ["كَيْفَ أُغَيِّرُ كلمـــة المرور؟", "هَلْ يوجد حل؟"])
def test_diacritics_and_tatweel_do_not_hide_a_question(text):
    assert is_question(text, "ar")


def test_title_asks_for_its_post():
    assert is_question("Here is my setup, full logs below.", "en", title="How do I export my data?")


def test_headline_title_does_not_make_a_question():
    assert not is_question("Ten years of notes.", "en", title="What I learned running a forum")


def test_detects_languages_of_a_list_in_order():
    texts = [
        "How do I reset my password on the forum?",
        "كيف أغير كلمة المرور؟",
        "Bonjour tout le monde, comment ça va?",
        "چطور می‌توانم رمز عبورم را تغییر دهم؟",
    ]
    assert detect_languages(texts) == ["en", "ar", "fr", "fa"]


@pytest.mark.parametrize("text", ["", None, "ok", "👍👍", "https://example.com/a?b=c", "Source?"])
def test_short_or_empty_text_has_no_language(text):
    assert detect_languages([text]) == [None]


def test_annotate_keeps_known_languages_and_fills_missing_ones():
    langs, flags = annotate(
        [None, "How do I export my data?", None],
        ["حد يعرف حل لهالمشكلة", "Details below.", "Thanks for the great article, really useful."],
        [None, "en-GB", "und"],
    )
    assert langs == ["ar", "en", "en"]
    assert flags == [True, True, False]


def test_annotate_rejects_lists_of_different_lengths():
    with pytest.raises(ValueError, match="one title, body and lang per post"):
        annotate([None], ["a", "b"], [None, None])


def _scores(name: str) -> dict:
    return eval_questions.evaluate(LABELS / name)


def test_arabic_f1_clearly_beats_the_naive_baseline():
    scores = _scores("questions_ar.tsv")
    for part in ("all", "unseen"):
        ours, naive = scores[part]["majlis"], scores[part]["naive"]
        assert ours.f1 >= naive.f1 + 0.15, (part, ours, naive)
    assert scores["all"]["majlis"].f1 >= 0.7


def test_english_f1_stays_high():
    scores = _scores("questions_en.tsv")
    assert scores["all"]["majlis"].f1 >= 0.9
    assert scores["unseen"]["majlis"].f1 >= 0.9


def test_labelled_files_score_every_non_ambiguous_row():
    rows = eval_questions.read_labels(LABELS / "questions_ar.tsv")
    assert len(rows) == 201 and sum(r.is_question for r in rows) == 22
