-- The core schema. Timestamps are UTC (TIMESTAMP without zone). docs/warehouse.md documents
-- every table and column; tests/test_warehouse_docs.py fails when one is missing there.

create table raw_pages (
    page_id      bigint primary key,
    source       varchar not null,
    request      varchar not null,
    fetched_at   timestamp not null,
    status       integer not null,
    content_type varchar,
    body         blob
);
create sequence raw_pages_seq;

create table members (
    member_id     varchar primary key,
    platform      varchar not null,
    handle        varchar,
    display_name  varchar,
    first_seen_at timestamp,
    last_seen_at  timestamp,
    is_manager    boolean not null default false,
    is_bot        boolean not null default false
);

create table posts (
    post_id     varchar primary key,
    platform    varchar not null,
    source      varchar not null,
    kind        varchar not null,
    thread_id   varchar,
    parent_id   varchar,
    author_id   varchar,
    created_at  timestamp,
    title       varchar,
    body        varchar,
    url         varchar,
    score       bigint,
    reply_count bigint,
    lang        varchar,
    is_question boolean,
    state       varchar not null default 'live',
    fetched_at  timestamp not null,
    updated_at  timestamp not null
);

create table community_snapshots (
    source         varchar not null,
    captured_at    timestamp not null,
    members_count  bigint,
    active_members bigint,
    primary key (source, captured_at)
);

create table source_cursors (
    source     varchar primary key,
    state      json not null,
    updated_at timestamp not null
);

create table source_runs (
    run_id      varchar not null,
    source      varchar not null,
    started_at  timestamp not null,
    finished_at timestamp,
    status      varchar not null,
    pages       integer not null default 0,
    posts_seen  integer not null default 0,
    posts_new   integer not null default 0,
    problems    varchar[],
    error       varchar,
    primary key (run_id, source)
);

create table findings (
    finding_id  varchar primary key,
    rule        varchar not null,
    goal        varchar,
    subject_id  varchar not null,
    source      varchar,
    severity    varchar not null,
    detected_at timestamp not null,
    cleared_at  timestamp,
    details     json
);

create table tasks (
    task_id     varchar primary key,
    finding_id  varchar not null,
    rule        varchar not null,
    goal        varchar,
    source      varchar,
    assignee    varchar,
    status      varchar not null,
    created_at  timestamp not null,
    due_at      timestamp,
    resolved_at timestamp,
    summary     varchar not null,
    url         varchar
);

create table deliveries (
    delivery_id varchar primary key,
    task_id     varchar not null,
    assignee    varchar not null,
    channel     varchar not null,
    status      varchar not null,
    queued_at   timestamp not null,
    sent_at     timestamp,
    attempts    integer not null default 0,
    last_error  varchar
);
