-- The run summary operators read: requests per 1000 new posts, X posts read and spend.
alter table source_runs add column summary varchar;
