-- suggested responders: questions members answered before, one row per question and answerer.
--
-- The corpus rules/responders.py fits TF-IDF on: questions (is_question) in $sources, newest
-- $max_questions per source, each with the members who answered it with a direct reply that is
-- theirs (not the asker's), not a bot's, not deleted, and not only thanks or +1
-- ($not_an_answer, the same test unanswered-questions uses). Why: the member most likely to
-- answer a question is one who has answered its like before (seed principle 2), and naming
-- them in the task turns "someone should answer" into "ask Sara".
--
-- Parameters: $sources (varchar[]), $max_questions (integer), $not_an_answer (regex).
with answered as (
    select
        q.source, q.post_id as question_id, q.created_at,
        coalesce(q.title, '') || ' ' || coalesce(q.body, '') as question_text,
        r.author_id as answerer_id
    from posts as q
    join posts as r on r.parent_id = q.post_id
    left join members as m on m.member_id = r.author_id
    where q.is_question
      and q.source in (select unnest($sources::varchar[]))
      and q.state in ('live', 'edited')
      and r.author_id is not null
      and r.author_id is distinct from q.author_id
      and not coalesce(m.is_bot, false)
      and r.state in ('live', 'edited')
      and not regexp_full_match(lower(trim(coalesce(r.body, r.title, ''))), $not_an_answer)
),

newest as (
    select source, question_id
    from (select distinct source, question_id, created_at from answered)
    qualify row_number() over (partition by source order by created_at desc, question_id) <= $max_questions
)

select a.source, a.question_id, any_value(a.question_text) as question_text,
       list(distinct a.answerer_id order by a.answerer_id) as answerer_ids
from answered as a
join newest using (source, question_id)
group by a.source, a.question_id
order by a.source, a.question_id
