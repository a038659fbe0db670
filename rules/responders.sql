-- suggested responders: questions members answered before, one row per question.
--
-- The corpus rules/responders.py fits TF-IDF on: questions (is_question) in $sources, newest
-- $max_questions per source, each with the members who answered it with a direct reply that is
-- theirs (not the asker's), not a bot's, not deleted, and not only thanks or +1
-- ($not_an_answer, the same test unanswered-questions uses). Why: the member most likely to
-- answer a question is one who has answered its like before (seed principle 2), and naming
-- them in the task turns "someone should answer" into "ask Sara".
--
-- $since bounds the questions looked at (null: all of them). rules/responders.py tries recent
-- windows first and keeps a source's result only when the window held $max_questions answered
-- questions: the newest of those are then the newest of all, found without probing the
-- replies to every question the source ever had.
--
-- Parameters: $sources (varchar[]), $max_questions (integer), $not_an_answer (regex),
-- $since (timestamp or null).
-- Result: source, question_id, question_text, answerer_ids and answerer_handles (parallel
-- lists, ordered by member id).
with questions as (
    select q.source, q.post_id, q.author_id, q.created_at
    from posts as q
    where q.is_question
      and list_contains($sources::varchar[], q.source)
      and q.state in ('live', 'edited')
      and ($since::timestamp is null or q.created_at >= $since::timestamp)
),

-- Whether a reply answers is one CASE over both sides of the join, so the optimiser keeps it
-- above the join: split into separate conditions, it pushes the thanks / +1 pattern below
-- the join onto every post, and the scan of posts is no longer narrowed to the replies of
-- these questions (that was most of the query's time: 0.9 s of 1.0 at 100k posts).
direct_replies as (
    select q.source, q.post_id as question_id, q.created_at, r.author_id as answerer_id,
           case when r.author_id is not null and r.author_id is distinct from q.author_id
                then not regexp_full_match(lower(trim(coalesce(r.body, r.title, ''))), $not_an_answer)
                else false end as answers
    from questions as q
    join posts as r on r.parent_id = q.post_id
    where r.state in ('live', 'edited')
),

answered as (
    select distinct d.source, d.question_id, d.created_at, d.answerer_id, m.handle as answerer_handle
    from direct_replies as d
    left join members as m on m.member_id = d.answerer_id
    where d.answers and not coalesce(m.is_bot, false)
),

newest as (
    select source, question_id
    from (select distinct source, question_id, created_at from answered)
    qualify row_number() over (partition by source order by created_at desc, question_id) <= $max_questions
),

answerers as (
    select a.source, a.question_id,
           list(a.answerer_id order by a.answerer_id) as answerer_ids,
           list(a.answerer_handle order by a.answerer_id) as answerer_handles
    from answered as a
    join newest using (source, question_id)
    group by a.source, a.question_id
)

select a.source, a.question_id, coalesce(q.title, '') || ' ' || coalesce(q.body, '') as question_text,
       a.answerer_ids, a.answerer_handles
from answerers as a
join posts as q on q.post_id = a.question_id
order by a.source, a.question_id
