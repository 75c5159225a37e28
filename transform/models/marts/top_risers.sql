{#- The videos of each profile that gained most views over the last top_risers_days days
    before the newest observation (the newest observation stands for now). -#}
with recent as (
    select profile_url, video_id, max(views) - min(views) as views_gained
    from {{ ref('stg_video_stats') }}
    where profile_url is not null
        and observed_at >= (
            select {{ dbt.dateadd('day', -var('top_risers_days'), 'max(observed_at)') }}
            from {{ ref('stg_video_stats') }}
        )
    group by profile_url, video_id
    having count(*) > 1
),

ranked as (
    select
        profile_url,
        video_id,
        views_gained,
        row_number() over (
            partition by profile_url order by views_gained desc nulls last, video_id
        ) as rank
    from recent
)

select profile_url, video_id, views_gained, rank
from ranked
where rank <= {{ var('top_risers_per_profile') }}
