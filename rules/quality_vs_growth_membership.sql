-- quality-vs-growth, membership side: one row per source per ISO week (Monday 00:00 UTC).
-- Where the platform reports a member count (community_snapshots: Reddit subscribers, X
-- followers) that is membership: the last count captured in the week. Sources without
-- snapshots (feeds) fall back to the distinct non-bot authors active in the week, which is
-- noisier but is the only membership a blog shows.
--
-- Parameters: $since, $until (timestamps: the weeks analysed; snapshots from up to four
-- weeks earlier are read too, so a week without a capture can carry the previous count).
-- Result: source, week, basis ('snapshots' | 'active authors'), members.
with snapshot_weeks as (
    select source, date_trunc('week', captured_at) as week,
           arg_max(members_count, captured_at) as members
    from community_snapshots
    where members_count is not null
      and captured_at >= $since::timestamp - to_days(28)
      and captured_at < $until
    group by source, week
),

active_weeks as (
    select p.source, date_trunc('week', p.created_at) as week,
           count(distinct p.author_id) as members
    from posts as p
    left join members as m on m.member_id = p.author_id
    where p.created_at >= $since
      and p.created_at < $until
      and p.author_id is not null
      and not coalesce(m.is_bot, false)
      and p.source not in (select source from snapshot_weeks)
    group by p.source, week
)

select source, week, 'snapshots' as basis, members from snapshot_weeks
union all
select source, week, 'active authors' as basis, members from active_weeks
order by source, week
