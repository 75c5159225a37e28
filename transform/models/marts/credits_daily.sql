{#- Credits per day and meter: the tasks' charges (by the day each task completed) and, as
    lines of their own, what video_transcripts' rows cost (by the day each was fetched)
    and what video_extractions' rows cost (by the day each job ended). -#}
with task_charges as (
    select
        cast(charged_at as date) as day,
        source,
        meter,
        count(distinct task_id) as items,
        cast(sum(quantity) as {{ type_credits() }}) as quantity,
        cast(sum(credits) as {{ type_credits() }}) as credits
    from {{ ref('int_task_charges') }}
    group by cast(charged_at as date), source, meter
),

transcripts as (
    select
        cast(fetched_at as date) as day,
        'video_transcripts' as source,
        'video_transcripts' as meter,
        count(*) as items,
        cast(count(*) as {{ type_credits() }}) as quantity,
        cast(sum(credits_used) as {{ type_credits() }}) as credits
    from {{ ref('stg_video_transcripts') }}
    where credits_used is not null
    group by cast(fetched_at as date)
),

extractions as (
    select
        cast(extracted_at as date) as day,
        'video_extractions' as source,
        'video_extractions' as meter,
        count(*) as items,
        cast(count(*) as {{ type_credits() }}) as quantity,
        cast(sum(credits_used) as {{ type_credits() }}) as credits
    from {{ ref('stg_video_extractions') }}
    where credits_used is not null
    group by cast(extracted_at as date)
)

select day, source, meter, items, quantity, credits from task_charges
union all
select day, source, meter, items, quantity, credits from transcripts
union all
select day, source, meter, items, quantity, credits from extractions
