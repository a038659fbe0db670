-- promises-kept: managers' posts that may commit to something, with the first later post
-- by the same manager in the same thread.
--
-- Why: seed principle 3, "make the community a lasting priority". A manager who says "we
-- will publish the slides" or "سننشر الرابط قريبًا" and never comes back teaches members that
-- the people running the community do not follow through. rules/promises_kept.py decides
-- which of these posts are promises (word boundaries, negation, questions) and when each is
-- due; this query only narrows the field with a loose pattern ($commitment) so that check
-- runs on a few posts.
--
-- A manager is members.is_manager or a member id in $manager_ids (from the config). A
-- follow-up is any live or edited post by the same manager in the same thread, later than
-- the promise. Deleted or removed promises are not held against anyone.
--
-- Parameters: $now, $since (timestamps: promises made in between), $manager_ids (varchar[]),
-- $commitment (RE2 regex, matched against the lower-cased title and body).
with manager_posts as (
    select
        p.post_id, p.source, p.thread_id, p.author_id, p.created_at, p.title, p.body, p.url,
        p.lang, m.handle
    from posts as p
    left join members as m on m.member_id = p.author_id
    where p.created_at >= $since
      and p.created_at <= $now
      and p.state in ('live', 'edited')
      and (coalesce(m.is_manager, false) or list_contains($manager_ids::varchar[], p.author_id))
      and regexp_matches(lower(coalesce(p.title, '') || ' ' || coalesce(p.body, '')), $commitment)
)

select
    mp.*,
    (
        select min(f.created_at)
        from posts as f
        where f.thread_id = mp.thread_id
          and f.author_id = mp.author_id
          and f.post_id <> mp.post_id
          and f.created_at > mp.created_at
          and f.state in ('live', 'edited')
    ) as first_follow_up_at
from manager_posts as mp
order by mp.created_at
