-- Dispatch modes: a digest is one delivery covering many tasks. `task_ids` lists the tasks a
-- delivery covers (one for notify and escalation rows, every listed task for a digest, whose
-- `task_id` is null); `period_start` is when the digest's period came due.
alter table deliveries add column task_ids varchar[];
alter table deliveries add column period_start timestamp;
alter table deliveries alter column task_id drop not null;
update deliveries set task_ids = [task_id] where task_ids is null;
