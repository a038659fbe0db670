-- question_answers: every question members asked in a time window, with what its replies were.
--
-- The one definition of "answered", shared by the unanswered-questions rule and the goals
-- (`majlis goals`: answered within SLA, median first response). Reads posts flagged
-- is_question at load time (majlis.text.annotate). An answer is a reply, anywhere below the
-- question, from someone other than the asker who is not a bot; a reply that only thanks or
-- says "+1" ($not_an_answer) is not an answer; a manager's reply is.
--
-- Blog comments: where the blog threads replies (WordPress "In reply to", Atom thr:in-reply-to,
-- seen as any comment in the thread whose parent is another comment), only replies count.
-- Where a thread has no threading at all, a later comment by someone else that is not itself
-- a question is the best evidence of an answer, and counts. Questions asked by managers, and
-- feed items with no known author, are the community's own invitations to comment, not
-- questions owed an answer. Deleted or removed posts neither ask nor answer.
--
-- Parameters: $now (timestamp, UTC: replies after it do not exist yet), $since (timestamp or
-- null: questions asked before it are left out), $default_hours (double), $sla_sources /
-- $sla_hours (parallel lists: a source's own reply time), $manager_ids (member ids from the
-- config), $not_an_answer (regular expression a non-answer reply matches in full, lower-cased).
-- Result: one row per question, with due_at, counts of answers, the asker's own replies, bot
-- replies and thank-you replies, and first_answer_at (null: not answered).
with recursive sla as (
    select unnest($sla_sources::varchar[]) as source, unnest($sla_hours::double[]) as hours
),

questions as (
    select
        q.post_id, q.source, q.kind, q.thread_id, q.author_id, q.created_at,
        q.title, q.body, q.url, q.lang,
        coalesce(sla.hours, $default_hours) as sla_hours
    from posts as q
    left join sla on sla.source = q.source
    left join members as asker on asker.member_id = q.author_id
    where q.is_question
      and q.state in ('live', 'edited')
      and q.kind in ('item', 'item_comment', 'submission', 'comment', 'tweet', 'reply')
      and q.created_at is not null
      and ($since is null or q.created_at >= $since::timestamp)
      and q.created_at <= $now::timestamp
      and not coalesce(asker.is_manager, false)
      and not coalesce(asker.is_bot, false)
      and not list_contains($manager_ids::varchar[], q.author_id)
      and not (q.kind = 'item' and q.author_id is null)
),

asked as (
    select *, created_at + to_microseconds(cast(sla_hours * 3600e6 as bigint)) as due_at
    from questions
),

-- Where replies are looked for: posts created since the oldest question still chased (a reply
-- is never older than the question it is below), and posts with no date. Without this bound
-- every level of the search below reads every post the warehouse ever held.
reply_posts as materialized (
    select post_id, parent_id, thread_id, kind, created_at, is_question
    from posts
    where created_at >= (select min(created_at) from asked) or created_at is null
),

-- Every post below a question, however deep ("union" stops on a cycle of parent ids).
descendants (question_id, post_id) as (
    select q.post_id, r.post_id
    from asked as q
    join reply_posts as r on r.parent_id = q.post_id
    union
    select d.question_id, r.post_id
    from descendants as d
    join reply_posts as r on r.parent_id = d.post_id
),

flat_thread_replies as (
    select q.post_id as question_id, r.post_id
    from asked as q
    join reply_posts as r
      on r.thread_id = q.thread_id
     and r.kind = 'item_comment'
     and r.post_id <> q.post_id
     and r.created_at > q.created_at
    where q.kind = 'item_comment'
      and coalesce(r.parent_id, r.thread_id) = r.thread_id
      and not coalesce(r.is_question, false)
      and not exists (
          select 1 from posts as threaded
          where threaded.thread_id = q.thread_id
            and threaded.kind = 'item_comment'
            and coalesce(threaded.parent_id, threaded.thread_id) <> threaded.thread_id
      )
),

-- A reply's role is one CASE over both sides of the join: as separate conditions the
-- optimiser pushes the thanks / +1 pattern below the join, onto every post.
replies as (
    select
        candidate.question_id,
        case
            when r.state not in ('live', 'edited') then 'gone'
            when r.author_id = q.author_id then 'self'
            when coalesce(replier.is_bot, false) then 'bot'
            when regexp_full_match(lower(trim(coalesce(r.body, r.title, ''))), $not_an_answer) then 'thanks'
            else 'answer'
        end as role,
        r.created_at
    from (select * from descendants union select * from flat_thread_replies) as candidate
    join posts as r on r.post_id = candidate.post_id
    join asked as q on q.post_id = candidate.question_id
    left join members as replier on replier.member_id = r.author_id
    where r.created_at <= $now::timestamp or r.created_at is null
),

reply_roles as (
    select
        question_id,
        count(*) filter (where role = 'answer') as answers,
        count(*) filter (where role = 'self') as self_replies,
        count(*) filter (where role = 'bot') as bot_replies,
        count(*) filter (where role = 'thanks') as thanks_replies,
        min(created_at) filter (where role = 'answer') as first_answer_at
    from replies
    group by question_id
)

select
    q.post_id, q.source, q.kind, q.thread_id, q.url, q.lang, q.title, q.body, q.author_id,
    q.created_at, q.sla_hours, q.due_at,
    coalesce(rr.answers, 0) as answers,
    coalesce(rr.self_replies, 0) as self_replies,
    coalesce(rr.bot_replies, 0) as bot_replies,
    coalesce(rr.thanks_replies, 0) as thanks_replies,
    rr.first_answer_at
from asked as q
left join reply_roles as rr on rr.question_id = q.post_id
order by q.source, q.created_at, q.post_id
