with ranked as (
    select
        *,
        cast(observed_at as date) as observed_on,
        row_number() over (
            partition by video_id, cast(observed_at as date)
            order by observed_at desc, task_id desc
        ) as newest_of_day
    from {{ ref('stg_video_stats') }}
    where observed_at is not null
),

days as (
    select * from ranked where newest_of_day = 1
)

select
    video_id,
    observed_on,
    observed_at,
    task_id,
    source,
    profile_url,
    search_query,
    views,
    likes,
    comments,
    reposts,
    shares,
    collects,
    views - lag(views) over (partition by video_id order by observed_on) as views_gained
from days
