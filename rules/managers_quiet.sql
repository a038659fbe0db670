-- managers_quiet: sources where no manager has posted for $quiet_days days.
-- Principle 3 ("a community is like a garden: neglect it and it withers"): members notice
-- when the people who run a community stop showing up, long before the numbers do.
-- A source where members are silent too is not flagged: nobody is waiting.
-- Only sources where a manager has posted at least once are judged, so a source whose
-- managers are not yet known (no handles configured) raises nothing.
with manager_posts as (
    select p.source, max(p.created_at) as last_manager_post, count(*) as manager_posts
    from posts p
    join members m on m.member_id = p.author_id
    where m.is_manager
    group by p.source
),
member_activity as (
    select source, count(*) as member_posts_since
    from posts p
    left join members m on m.member_id = p.author_id
    join manager_posts mp using (source)
    where p.created_at > mp.last_manager_post and not coalesce(m.is_manager, false)
    group by source
)
select
    mp.source,
    mp.last_manager_post,
    mp.manager_posts,
    coalesce(ma.member_posts_since, 0) as member_posts_since,
    date_diff('day', mp.last_manager_post, $now::timestamp) as quiet_days,
    'no manager post for ' || date_diff('day', mp.last_manager_post, $now::timestamp) || ' days' as reason
from manager_posts mp
left join member_activity ma using (source)
where mp.last_manager_post < $now::timestamp - to_days($quiet_days::integer)
  and coalesce(ma.member_posts_since, 0) >= $min_member_posts
order by quiet_days desc
