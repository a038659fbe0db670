-- spotlight-members: what each member gave a source lately, for members worth thanking in public.
--
-- One row per source and member (not bots, not managers) with a post in that source in the
-- window [$window_start, $now]:
--   answers, askers, newcomers_helped, first_answers
--       questions by others (is_question) the member answered with a direct reply in the
--       window that is not only thanks or +1 ($not_an_answer); from how many distinct askers;
--       how many of those askers were newcomers (first post at most $newcomer_days before the
--       question); how many times the member was the first real answer;
--   active_weeks       7-day windows, back from $now, with a post, over $consistency_weeks;
--   posts_in_window, posts_before_window   for rising engagement (the window before, same length);
--   first_post_at      the member's first post anywhere (first anniversary);
--   milestone, milestone_at   the largest of $milestones (their Nth post anywhere) reached in
--       the window, when its post is in this source.
-- Why: seed principle 5, "recognise those who give". The members who answer others,
-- especially newcomers, and those who keep showing up are what keeps a community alive, and
-- they rarely get thanked; managers need the names and the reason, ready to say.
--
-- Parameters: $now, $window_start, $previous_start, $consistency_start (timestamps),
-- $newcomer_days (integer), $milestones (integer[]), $manager_ids (varchar[]),
-- $not_an_answer (regex).
with people as (
    select member_id, handle
    from members
    where not is_bot and not is_manager
      and not list_contains($manager_ids::varchar[], member_id)
),

activity as (
    select
        source, author_id as member_id,
        count(*) filter (where created_at >= $window_start) as posts_in_window,
        count(*) filter (where created_at >= $previous_start and created_at < $window_start) as posts_before_window,
        count(distinct floor((epoch($now::timestamp) - epoch(created_at)) / 604800))
            filter (where created_at >= $consistency_start) as active_weeks
    from posts
    where author_id is not null
      and created_at <= $now
      and created_at >= least($previous_start::timestamp, $consistency_start::timestamp)
    group by source, author_id
),

-- Questions with a reply in the window, and every reply they ever had (the first answer may
-- predate the window). Whether a reply is a real answer is one CASE over both sides of the
-- join: as separate conditions the optimiser pushes the thanks / +1 pattern onto every post.
questions_replied_lately as (
    select q.source, q.post_id, q.author_id, q.created_at
    from posts as q
    where q.is_question
      and q.post_id in (select parent_id from posts where created_at >= $window_start and parent_id is not null)
),

replies_to_questions as (
    select
        q.source, q.post_id as question_id, q.author_id as asker_id, q.created_at as asked_at,
        r.author_id as answerer_id, r.created_at as answered_at, r.post_id as reply_id,
        case when r.author_id is not null and r.author_id is distinct from q.author_id
             then not regexp_full_match(lower(trim(coalesce(r.body, r.title, ''))), $not_an_answer)
             else false end as answers
    from questions_replied_lately as q
    join posts as r on r.parent_id = q.post_id
    where r.state in ('live', 'edited')
),

real_answers as (
    select rq.*,
           row_number() over (partition by rq.question_id order by rq.answered_at, rq.reply_id) as answer_rank
    from replies_to_questions as rq
    left join members as rm on rm.member_id = rq.answerer_id
    where rq.answers and not coalesce(rm.is_bot, false)
),

-- First posts (anywhere) of the members and askers this run looks at, not of everyone.
first_posts as (
    select author_id, min(created_at) as first_post_at
    from posts
    where author_id in (select member_id from activity union select asker_id from real_answers)
    group by author_id
),

answers as (
    select
        rq.source, rq.answerer_id as member_id,
        count(distinct rq.question_id) as answers,
        count(distinct rq.asker_id) as askers,
        count(distinct rq.asker_id) filter (
            where fp.first_post_at >= rq.asked_at - to_days($newcomer_days::integer)) as newcomers_helped,
        count(distinct rq.question_id) filter (where rq.answer_rank = 1) as first_answers
    from real_answers as rq
    left join first_posts as fp on fp.author_id = rq.asker_id
    where rq.answered_at >= $window_start and rq.answered_at <= $now
    group by rq.source, rq.answerer_id
),

-- A member's Nth post: the posts they made before the window, plus the place of the post
-- among theirs in the window (numbering all of history per member was most of this query).
posts_before as (
    select author_id, count(*) as before_window
    from posts
    where author_id in (select member_id from activity where posts_in_window > 0)
      and created_at < $window_start
    group by author_id
),

numbered as (
    select p.source, p.author_id as member_id, p.created_at,
           coalesce(b.before_window, 0)
               + row_number() over (partition by p.author_id order by p.created_at, p.post_id) as nth
    from posts as p
    left join posts_before as b on b.author_id = p.author_id
    where p.author_id is not null and p.created_at >= $window_start and p.created_at <= $now
),

milestones as (
    select source, member_id, max(nth) as milestone, arg_max(created_at, nth) as milestone_at
    from numbered
    where list_contains($milestones::integer[], nth::integer)
    group by source, member_id
)

select
    a.source, a.member_id, p.handle,
    coalesce(ans.answers, 0) as answers,
    coalesce(ans.askers, 0) as askers,
    coalesce(ans.newcomers_helped, 0) as newcomers_helped,
    coalesce(ans.first_answers, 0) as first_answers,
    a.active_weeks, a.posts_in_window, a.posts_before_window,
    fp.first_post_at, ms.milestone, ms.milestone_at
from activity as a
join people as p on p.member_id = a.member_id
left join answers as ans on ans.source = a.source and ans.member_id = a.member_id
left join first_posts as fp on fp.author_id = a.member_id
left join milestones as ms on ms.source = a.source and ms.member_id = a.member_id
where a.posts_in_window > 0
order by a.source, a.member_id
