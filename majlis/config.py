"""`majlis.toml`, validated: a bad config names the key, the value and why."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG = Path("majlis.toml")


class ConfigError(Exception):
    """The config file cannot be used; the message names the file, the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarehouseConfig(_Strict):
    path: Path = Path("majlis.duckdb")
    # "duckdb": one file, one writing process (the default). "ducklake": a DuckLake catalog in
    # PostgreSQL (`catalog`) with Parquet files under `data_path`, written by many workers.
    backend: Literal["duckdb", "ducklake"] = "duckdb"
    catalog: str | None = None  # libpq DSN, e.g. "dbname=majlis host=db.internal user=majlis"
    data_path: str | None = None  # folder or object-store URL (s3://...) for the Parquet files

    @model_validator(mode="after")
    def _ducklake_needs_a_catalog(self) -> "WarehouseConfig":
        if self.backend == "ducklake" and not (self.catalog and self.data_path):
            raise ValueError("backend = \"ducklake\" needs `catalog` (a PostgreSQL connection "
                             "string, e.g. \"dbname=majlis host=db\") and `data_path` (where "
                             "the Parquet files go)")
        return self


class OperatorsConfig(_Strict):
    notify: list[str] = []  # apprise URLs told when a flow run fails


class _SourceBase(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)]
    timeout_s: float = Field(30.0, gt=0)
    sla_hours: float | None = Field(None, gt=0)


class RssSource(_SourceBase):
    kind: Literal["rss"]
    url: str
    follow_comments: bool = True  # fetch each item's wfw:commentRss feed
    max_comment_feeds: int = Field(50, ge=0)  # per run, newest items first

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v


class RedditSource(_SourceBase):
    kind: Literal["reddit"]
    subreddit: str
    base_url: str | None = None  # overrides both the OAuth API host and the token endpoint
    secret_block: str | None = None  # a Prefect Secret block holding client_id/secret/user_agent
    refresh_days: float = Field(3.0, ge=0)
    page_limit: int = Field(100, ge=1, le=100)


class XSource(_SourceBase):
    kind: Literal["x"]
    query: str | list[str] | None = None
    account: str | None = None
    base_url: str | None = None
    secret_block: str | None = None
    max_posts_per_month: int | None = Field(None, ge=0)
    cost_per_post_usd: float = Field(0.005, ge=0)


Source = Annotated[Union[RssSource, RedditSource, XSource], Field(discriminator="kind")]


class Manager(_Strict):
    name: str
    notify: list[str] = []  # apprise URLs: mailto://, slack://, json://, ...
    languages: list[str] = []  # ISO 639-1 codes; empty: any
    sources: list[str] = []  # source names; empty: all
    handles: list[str] = []  # member ids that are this manager, e.g. "rss:our-blog:hala mansour"
    escalate_to: list[str] = []  # apprise URLs for tasks not acknowledged by their due time
    rules: list[str] = []  # rule ids this manager takes; empty: all
    fallback: bool = False  # receives tasks no other manager covers (default: the first manager)
    # Delivery modes (dispatch/modes.py); times are local to `timezone`.
    timezone: str = "UTC"  # IANA name, e.g. "Asia/Riyadh"
    digest: Literal["hourly", "daily"] | None = None  # none: every task is sent at once
    digest_at: str = "08:00"  # when a daily digest comes due
    immediate: list[Literal["low", "medium", "high"]] = ["high"]  # sent at once despite a digest
    quiet_hours: str | None = None  # "22:00-07:00": nothing sent inside; deliveries wait
    quiet_hours_except: list[Literal["low", "medium", "high"]] = []  # e.g. ["high"]
    capacity_per_week: int | None = Field(None, ge=0)  # tasks assigned per 7 days; none: no cap
    expire_after_days: float | None = Field(30.0, gt=0)  # unacknowledged tasks expire; none: never

    @field_validator("handles")
    @classmethod
    def _lower_handles(cls, handles: list[str]) -> list[str]:
        # Member ids are lower-cased (names are case-insensitive on every platform we read).
        return [h.strip().lower() for h in handles]

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use an IANA name such as \"Asia/Riyadh\" or \"UTC\"") from None
        return name

    @field_validator("digest_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("expected a 24-hour time such as \"08:00\"")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _clock_range(cls, value: str | None) -> str | None:
        import re

        if value is None:
            return value
        match = re.fullmatch(r"\s*(([01]\d|2[0-3]):[0-5]\d)\s*-\s*(([01]\d|2[0-3]):[0-5]\d)\s*", value)
        if not match or match.group(1) == match.group(3):
            raise ValueError("expected \"HH:MM-HH:MM\" with two different times, e.g. \"22:00-07:00\"")
        return f"{match.group(1)}-{match.group(3)}"


class Goal(_Strict):
    id: str
    description: str
    metric: str | None = None
    target: float | None = None


class Config(_Strict):
    warehouse: WarehouseConfig = WarehouseConfig()
    operators: OperatorsConfig = OperatorsConfig()
    sources: list[Source] = []
    managers: list[Manager] = []
    goals: list[Goal] = []
    rules: dict[str, dict[str, Any]] = {}

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list) -> list:
        seen: set[str] = set()
        for s in sources:
            if s.name in seen:
                raise ValueError(f"source name {s.name!r} is used twice; names must be unique")
            seen.add(s.name)
        return sources

    def source(self, name: str):
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)


def _describe(err: ValidationError, data: dict) -> str:
    lines = []
    for e in err.errors():
        loc = e["loc"]
        key = _key_path(loc, data)
        value = e.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}"
        lines.append(f"  {key}{shown}: {e['msg']}")
    return "\n".join(lines)


def _key_path(loc: tuple, data: Any) -> str:
    """`sources[1].url` in TOML terms, naming the source where it has a name."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("name")
                if name:
                    label = f"[{item}] (name={name!r})"
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            if item in ("rss", "reddit", "x") and isinstance(node, dict) and node.get("kind") == item:
                continue  # the discriminator's tag, not a key the user wrote
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


def parse_config(data: dict, origin: str = "<config>") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{origin} is not valid:\n{_describe(err, data)}") from None


def load_config(path: Path | str = DEFAULT_CONFIG) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no config file at {path}: create one (see majlis.example.toml) or pass --config"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    config = parse_config(data, str(path))
    # A relative warehouse path is relative to the config file, not to the caller's cwd.
    wh = config.warehouse
    moved: dict[str, Any] = {}
    if not wh.path.is_absolute():
        moved["path"] = path.parent / wh.path
    if wh.data_path and "://" not in wh.data_path and not Path(wh.data_path).is_absolute():
        moved["data_path"] = str(path.parent / wh.data_path)
    if moved:
        config = config.model_copy(update={"warehouse": wh.model_copy(update=moved)})
    return config
