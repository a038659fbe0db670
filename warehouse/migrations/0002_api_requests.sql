-- Every request made to a provider's API, for rate-limit and cost accounting.
create table api_requests (
    source              varchar not null,
    requested_at        timestamp not null,
    method              varchar not null,
    endpoint            varchar not null,
    status              integer,
    items               bigint not null default 0,
    elapsed_ms          bigint,
    ratelimit_remaining double,
    ratelimit_reset_s   double
);
