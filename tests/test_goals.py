"""`majlis goals`: each goal's value from a real warehouse file, against its target."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from connectors import Batch, Member, Post
from majlis.cli import app
from majlis.config import load_config
from majlis.goals import METRICS, goal_report, open_read_only
from warehouse import Warehouse, utcnow

runner = CliRunner()
NOW = utcnow()
SOURCE = "forum"


def _config_text(warehouse: str, goals: str) -> str:
    return f"""
[warehouse]
path = "{warehouse}"

[[sources]]
kind = "rss"
name = "{SOURCE}"
url = "https://forum.example/feed"
sla_hours = 24

[[managers]]
name = "Hala"
handles = ["rss:forum:hala"]

{goals}
"""


def _goal(goal_id: str, metric: str | None, target: float | None = None) -> str:
    lines = ["[[goals]]", f'id = "{goal_id}"', f'description = "{goal_id}"']
    if metric is not None:
        lines.append(f'metric = "{metric}"')
    if target is not None:
        lines.append(f"target = {target}")
    return "\n".join(lines) + "\n"


def _post(pid: str, author: str, hours_ago: float, *, parent: str | None = None, body: str = "an answer with detail",
          question: bool = False, thread: str | None = None) -> Post:
    return Post(post_id=f"rss:{SOURCE}:{pid}", platform="rss", source=SOURCE, kind="item_comment",
                thread_id=f"rss:{SOURCE}:{thread or pid}", parent_id=f"rss:{SOURCE}:{parent}" if parent else None,
                author_id=f"rss:{SOURCE}:{author}", created_at=NOW - timedelta(hours=hours_ago),
                title=None, body=body, url=None, lang="en", is_question=question)


def _questions_and_answers() -> list[Post]:
    """Five questions due (24 h SLA), one answered in time; one not due yet; one too old."""
    return [
        _post("q1", "amal", 50, question=True, body="How do I reset my password?"),
        _post("a1", "badr", 48, parent="q1", thread="q1"),            # 2 h: in time
        _post("q2", "amal", 60, question=True, body="Where is the meetup?"),
        _post("a2", "badr", 30, parent="q2", thread="q2"),            # 30 h: late
        _post("q3", "chen", 48, question=True, body="Is the app down?"),  # never answered
        _post("q5", "dana", 40, question=True, body="Anyone know a good router?"),
        _post("t5", "badr", 39, parent="q5", thread="q5", body="thanks!"),  # thanks only
        _post("q6", "emad", 40, question=True, body="Which plan should I pick?"),
        _post("b6", "helper-bot", 39, parent="q6", thread="q6"),      # a bot
        _post("q4", "fay", 1, question=True, body="Can someone help with the export?"),  # not due
        _post("q7", "gus", 24 * 40, question=True, body="Old question?"),  # outside 30 days
    ]


def _promises() -> list[Post]:
    """Two manager promises due in the last 90 days: one followed up in time, one not."""
    return [
        _post("p1", "hala", 24 * 20, body="We will publish the slides within 3 days.", thread="p1"),
        _post("f1", "hala", 24 * 18, parent="p1", thread="p1", body="Slides are up now."),
        _post("p2", "hala", 24 * 20, body="We will fix the search within 5 days.", thread="p2"),
    ]


def _members(posts: list[Post]) -> list[Member]:
    return [Member(member_id=a, platform="rss", handle=a.rsplit(":", 1)[-1], display_name=None,
                   first_seen_at=None, last_seen_at=None, is_bot=a.endswith("-bot"))
            for a in sorted({p.author_id for p in posts})]


def _open_work(wh: Warehouse) -> None:
    wh.con.execute("""
        insert into findings values
          ('f-open', 'unanswered-questions', 'answer-every-question', 'q3', 'forum', 'high', $now, null, '{}'),
          ('f-done', 'unanswered-questions', 'answer-every-question', 'q9', 'forum', 'high', $now, $now, '{}'),
          ('f-spot', 'spotlight-members', 'recognise-contributors', 'badr', 'forum', 'low', $now, null, '{}')
    """, {"now": NOW})
    wh.con.execute("""
        insert into tasks (task_id, finding_id, rule, goal, source, assignee, status, created_at, summary)
        values ('t-open', 'f-open', 'unanswered-questions', 'answer-every-question', 'forum', 'Hala', 'notified', $now, 's'),
               ('t-done', 'f-done', 'unanswered-questions', 'answer-every-question', 'forum', 'Hala', 'resolved', $now, 's')
    """, {"now": NOW})


@pytest.fixture
def community(tmp_path):
    """A warehouse file with questions, answers, promises and open work; returns a config writer."""
    path = tmp_path / "majlis.duckdb"
    posts = _questions_and_answers() + _promises()
    with Warehouse.open(path) as wh:
        wh.write_batch(Batch(source=SOURCE, posts=posts, members=_members(posts)))
        _open_work(wh)

    def write_config(*goals: str) -> str:
        config = tmp_path / "majlis.toml"
        config.write_text(_config_text(str(path), "\n".join(goals)), encoding="utf-8")
        return str(config)

    return write_config


def _report(config_path: str) -> dict:
    config = load_config(config_path)
    with open_read_only(config) as wh:
        return {r.goal: r for r in goal_report(wh, config, NOW)}


def test_answered_within_sla_counts_only_questions_answered_by_someone_in_time(community):
    (report,) = _report(community(_goal("answer-every-question", "answered_within_sla", 0.9))).values()
    assert report.value == 0.2  # q1 of q1, q2, q3, q5 (thanks only), q6 (a bot)
    assert report.status == "not met" and report.direction == ">="
    assert report.by_source == {SOURCE: 0.2}
    assert "1 of 5" in report.basis


def test_median_first_response_is_met_when_at_or_below_its_target(community):
    (report,) = _report(community(_goal("fast", "median_first_response_hours", 16))).values()
    assert report.value == 16.0  # 2 h and 30 h
    assert report.status == "met" and report.direction == "<="


def test_promises_kept_share_counts_follow_ups_by_the_due_date(community):
    (report,) = _report(community(_goal("promises-kept", "promises_kept_share", 1.0))).values()
    assert report.value == 0.5
    assert report.status == "not met"


def test_goal_shows_the_findings_and_tasks_open_for_it(community):
    report = _report(community(_goal("answer-every-question", "open_tasks", 0)))["answer-every-question"]
    assert report.open_findings == 1 and report.findings_by_rule == {"unanswered-questions": 1}
    assert report.open_tasks == 1 and report.value == 1.0
    assert report.status == "not met"
    assert "unanswered-questions" in report.rules


def test_spotlights_count_members_spotlighted_in_the_last_30_days(community):
    report = _report(community(_goal("recognise-contributors", "spotlights_last_30_days", 1)))
    assert report["recognise-contributors"].value == 1.0
    assert report["recognise-contributors"].status == "met"


def test_quality_index_without_analysed_weeks_is_no_data(community):
    (report,) = _report(community(_goal("quality", "quality_index", 70))).values()
    assert report.status == "no data" and report.value is None  # every member post is too recent


def test_quality_index_is_the_latest_analysed_week_of_the_lowest_source(community, tmp_path):
    opener = _post("w1", "amal", 24 * 14, body="Our garden club meets on Fridays near the library now.")
    reply = _post("w2", "badr", 24 * 14 - 2, parent="w1", thread="w1",
                  body="Good to know, I will bring the seedlings I promised last month.")
    with Warehouse.open(tmp_path / "majlis.duckdb") as wh:
        wh.write_batch(Batch(source=SOURCE, posts=[opener, reply], members=_members([opener, reply])))
    (report,) = _report(community(_goal("quality", "quality_index", 70))).values()
    # The opener: answered 1, breadth 1/3, substance 1, kept 1; the reply: substance and kept.
    assert report.value == pytest.approx(100 * (10 / 12 + 1) / 2, abs=0.1)
    assert report.status == "met" and SOURCE in report.basis


def test_unknown_metric_is_named_with_the_metrics_majlis_knows(community):
    config = community(_goal("vibes", "good_vibes", 1))
    result = runner.invoke(app, ["goals", "--config", config])
    assert result.exit_code == 0, result.output
    assert "metric 'good_vibes' is not one Majlis computes; known:" in " ".join(result.output.split())
    (report,) = _report(config).values()
    assert report.status == "unknown metric"
    assert all(name in report.basis for name in METRICS)


def test_goal_without_metric_still_shows_its_open_work(community):
    (report,) = _report(community(_goal("answer-every-question", None))).values()
    assert report.status == "no metric" and report.open_tasks == 1


def test_goals_json_has_one_object_per_goal_in_config_order(community):
    config = community(_goal("answer-every-question", "answered_within_sla", 0.9),
                       _goal("fast", "median_first_response_hours", 12))
    result = runner.invoke(app, ["goals", "--config", config, "--json"])
    assert result.exit_code == 0, result.output
    goals = json.loads(result.output)
    assert [g["goal"] for g in goals] == ["answer-every-question", "fast"]
    assert goals[1]["status"] == "not met" and goals[1]["value"] == 16.0


def test_goals_table_shows_value_target_and_status(community):
    result = runner.invoke(app, ["goals", "--config", community(_goal("fast", "median_first_response_hours", 16))])
    assert result.exit_code == 0, result.output
    assert "fast" in result.output and "16" in result.output and "met" in result.output


def test_report_leaves_the_warehouse_file_unchanged(community, tmp_path):
    config = community(_goal("answer-every-question", "answered_within_sla", 0.9))
    before = (tmp_path / "majlis.duckdb").read_bytes()
    assert runner.invoke(app, ["goals", "--config", config]).exit_code == 0
    assert (tmp_path / "majlis.duckdb").read_bytes() == before


def test_goals_without_a_warehouse_says_to_run_first(tmp_path):
    config = tmp_path / "majlis.toml"
    config.write_text(_config_text(str(tmp_path / "none.duckdb"), _goal("g", "open_tasks", 0)), encoding="utf-8")
    result = runner.invoke(app, ["goals", "--config", str(config)])
    assert result.exit_code == 2
    assert "majlis run" in result.output
