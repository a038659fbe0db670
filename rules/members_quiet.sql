-- members-quiet: members who were regulars and have gone silent.
--
-- Catches members (not bots, not managers) who posted in at least $min_active_weeks of the
-- $regular_weeks weeks before $quiet_since, and nothing at all, in any source, since
-- $quiet_since. Weeks are 7-day windows counted back from $quiet_since, not calendar weeks,
-- so the verdict does not jump on Mondays. Why: seed principle 3, "a garden neglected
-- withers": a regular who stops coming is the first sign, and a personal word from a
-- manager while it is fresh is what brings people back.
--
-- A member is judged in the source they posted most in, and only while that source is
-- alive (someone posted there since $quiet_since): when a whole source goes silent it is a
-- feed or ingest problem, not members leaving.
--
-- Parameters: $now, $quiet_since, $regular_since (timestamps), $min_active_weeks (integer),
-- $manager_ids (varchar[]). Result: one row per quiet regular, with a reason column.
with activity as (
    select p.author_id, p.source, p.created_at, p.url
    from posts as p
    left join members as m on m.member_id = p.author_id
    where p.author_id is not null
      and p.created_at >= $regular_since
      and p.created_at <= $now
      and not coalesce(m.is_bot, false)
      and not coalesce(m.is_manager, false)
      and not list_contains($manager_ids::varchar[], p.author_id)
),

regulars as (
    select
        author_id,
        count(distinct floor((epoch($quiet_since::timestamp) - epoch(created_at)) / 604800)) as active_weeks,
        count(*) as posts_before,
        mode(source) as main_source,
        max(created_at) as last_post_at,
        arg_max(url, created_at) as last_post_url
    from activity
    where created_at < $quiet_since
    group by author_id
    having active_weeks >= $min_active_weeks
),

alive_sources as (
    select distinct source from posts where created_at >= $quiet_since and created_at <= $now
)

select
    r.author_id as member_id, m.handle, r.main_source as source, r.active_weeks, r.posts_before,
    r.last_post_at, r.last_post_url,
    date_diff('day', r.last_post_at, $now::timestamp) as quiet_days,
    'active in ' || r.active_weeks || ' weeks, silent for '
        || date_diff('day', r.last_post_at, $now::timestamp) || ' days' as reason
from regulars as r
left join members as m on m.member_id = r.author_id
where r.author_id not in (select author_id from activity where created_at >= $quiet_since)
  and r.main_source in (select source from alive_sources)
order by r.active_weeks desc, r.last_post_at
