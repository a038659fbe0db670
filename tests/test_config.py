from pathlib import Path

import pytest

from majlis.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).parent.parent


def test_example_config_is_valid():
    config = load_config(ROOT / "majlis.example.toml")
    assert [s.kind for s in config.sources] == ["rss", "reddit", "x"]
    assert config.warehouse.path == ROOT / "majlis.duckdb"


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"sources": [{"kind": "rss", "name": "blog", "url": "ftp://x"}]},
         "sources[0] (name='blog').url = 'ftp://x'"),
        ({"sources": [{"kind": "reddit", "name": "r"}]}, "sources[0] (name='r').subreddit: Field required"),
        ({"sources": [{"kind": "rss", "name": "b", "url": "http://x", "urll": 1}]}, "urll = 1: Extra inputs"),
        ({"sources": [{"kind": "mastodon", "name": "m"}]}, "sources[0] (name='m')"),
        ({"sources": [{"kind": "rss", "name": "a", "url": "http://x"}] * 2}, "used twice"),
        ({"warehouse": {"pth": "x"}}, "warehouse.pth"),
        ({"rules": {"unanswered_questions": 3}}, "rules.unanswered_questions = 3"),
    ],
)
def test_bad_config_names_key_value_and_reason(data, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(data, "majlis.toml")
    assert "majlis.toml is not valid" in str(err.value)
    assert expected in str(err.value)


def test_missing_and_broken_files_say_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="no config file at .*pass --config"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "majlis.toml"
    broken.write_text("[warehouse\npath = 1\n")
    with pytest.raises(ConfigError, match="majlis.toml is not valid TOML"):
        load_config(broken)
