{%- set previous = "over (partition by video_id order by observed_at, task_id)" -%}
with observations as (
    select
        video_id,
        task_id,
        observed_at,
        source,
        profile_url,
        search_query,
        views,
        likes,
        comments,
        lag(observed_at) {{ previous }} as previous_observed_at,
        lag(views) {{ previous }} as previous_views,
        lag(likes) {{ previous }} as previous_likes,
        lag(comments) {{ previous }} as previous_comments
    from {{ ref('stg_video_stats') }}
),

gains as (
    select
        *,
        views - previous_views as views_gained,
        likes - previous_likes as likes_gained,
        comments - previous_comments as comments_gained,
        {{ seconds_between('previous_observed_at', 'observed_at') }} as seconds_since_previous
    from observations
)

select
    video_id,
    task_id,
    observed_at,
    source,
    profile_url,
    search_query,
    views,
    views_gained,
    likes,
    likes_gained,
    comments,
    comments_gained,
    previous_observed_at,
    seconds_since_previous,
    seconds_since_previous / 86400.0 as days_since_previous,
    case when seconds_since_previous > 0
        then views_gained * 86400.0 / seconds_since_previous end as views_gained_per_day,
    case when seconds_since_previous > 0
        then likes_gained * 86400.0 / seconds_since_previous end as likes_gained_per_day,
    case when seconds_since_previous > 0
        then comments_gained * 86400.0 / seconds_since_previous end as comments_gained_per_day
from gains
