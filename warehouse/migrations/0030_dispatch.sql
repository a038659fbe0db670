-- Dispatch: the task lifecycle (open -> notified -> acknowledged -> resolved, plus snoozed,
-- escalated) and the delivery outbox's retry schedule. Columns only; 0001 holds the tables.
alter table tasks add column severity varchar;
alter table tasks add column lang varchar;
alter table tasks add column excerpt varchar;          -- a prefix of the post, as written; sanitised and cut to ~280 chars when sent
alter table tasks add column notified_at timestamp;
alter table tasks add column acknowledged_at timestamp;
alter table tasks add column escalated_at timestamp;
alter table tasks add column snoozed_until timestamp;
alter table tasks add column resolution varchar;       -- cleared | manual

alter table deliveries add column kind varchar default 'notify';  -- notify | escalation
alter table deliveries add column next_attempt_at timestamp;
