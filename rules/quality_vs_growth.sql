-- quality-vs-growth: one row per member post in the analysed weeks, with what its quality
-- index is made of. The statistics (rolling baseline, Mann-Whitney U) run in
-- rules/quality_vs_growth.py over these rows; this query only measures each post.
--
-- Why: seed principle 4, "quality must not drop as membership grows". A community that
-- doubles while its posts stop getting answers, fill with one-word replies or get removed
-- is losing what made it worth joining, and the member count hides it.
--
-- Measured per post (bots and managers are not the community whose quality we judge; their
-- replies do count as replies):
--   opens_conversation  it starts a thread or asks a question: a post that expects replies;
--   repliers    distinct other, non-bot authors who replied directly to it within
--               $reply_window_days days (a fixed window, so recent weeks are not penalised
--               for having had less time to collect replies);
--   replies     those replies;
--   chars       its length without links;
--   low_effort  shorter than $min_chars without links, or only thanks / +1 ($not_an_answer);
--   removed     deleted by its author or removed by moderators.
--
-- Parameters: $since, $until (timestamps: the weeks analysed), $reply_window_days (integer),
-- $min_chars (integer), $manager_ids (member ids from the config), $not_an_answer (regex a
-- low-effort text matches in full, lower-cased).
with member_posts as (
    select
        p.post_id, p.source, p.author_id, p.created_at, p.state,
        p.parent_id is null or coalesce(p.is_question, false) as opens_conversation,
        date_trunc('week', p.created_at) as week,
        trim(regexp_replace(coalesce(p.body, p.title, ''), '(?:https?://|www\.)\S+', '', 'g')) as text_without_links
    from posts as p
    left join members as m on m.member_id = p.author_id
    where p.created_at >= $since
      and p.created_at < $until
      and p.author_id is not null
      and not coalesce(m.is_bot, false)
      and not coalesce(m.is_manager, false)
      and not list_contains($manager_ids::varchar[], p.author_id)
),

replies as (
    select
        mp.post_id,
        count(*) as replies,
        count(distinct r.author_id) as repliers
    from member_posts as mp
    join posts as r on r.parent_id = mp.post_id
    left join members as rm on rm.member_id = r.author_id
    where r.author_id is not null
      and r.author_id <> mp.author_id
      and not coalesce(rm.is_bot, false)
      and r.state in ('live', 'edited')
      and r.created_at >= mp.created_at
      and r.created_at <= mp.created_at + to_days($reply_window_days::integer)
    group by mp.post_id
)

select
    mp.source,
    mp.week,
    mp.opens_conversation,
    coalesce(r.replies, 0) as replies,
    coalesce(r.repliers, 0) as repliers,
    length(mp.text_without_links) as chars,
    length(mp.text_without_links) < $min_chars
        or regexp_full_match(lower(mp.text_without_links), $not_an_answer) as low_effort,
    mp.state in ('deleted', 'removed') as removed
from member_posts as mp
left join replies as r on r.post_id = mp.post_id
order by mp.source, mp.week
