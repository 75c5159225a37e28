{%- set previous = "over (partition by profile_url order by completed_at, task_id)" -%}
with scrapes as (
    select
        profile_url,
        uploader,
        task_id,
        completed_at as observed_at,
        follower_count,
        lag(completed_at) {{ previous }} as previous_observed_at,
        lag(follower_count) {{ previous }} as previous_follower_count
    from {{ ref('stg_profile_tasks') }}
    where task_status = 'completed'
),

gains as (
    select
        *,
        follower_count - previous_follower_count as followers_gained,
        {{ seconds_between('previous_observed_at', 'observed_at') }} as seconds_since_previous
    from scrapes
)

select
    profile_url,
    uploader,
    task_id,
    observed_at,
    follower_count,
    followers_gained,
    previous_observed_at,
    seconds_since_previous / 86400.0 as days_since_previous,
    case when seconds_since_previous > 0
        then followers_gained * 86400.0 / seconds_since_previous end as followers_gained_per_day
from gains
