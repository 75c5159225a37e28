{#- One row per tracked profile: how often it posts, how its videos do, its top riser. -#}
with scrapes as (
    select
        profile_url,
        max(uploader) as uploader,
        count(*) as scrapes,
        max(completed_at) as last_scraped_at
    from {{ ref('stg_profile_tasks') }}
    where task_status = 'completed'
    group by profile_url
),

latest_followers as (
    select profile_url, follower_count
    from (
        select
            profile_url,
            follower_count,
            row_number() over (partition by profile_url order by observed_at desc, task_id desc) as newest
        from {{ ref('profile_growth') }}
    ) as ordered
    where newest = 1
),

videos as (
    select
        videos.profile_url,
        count(*) as videos,
        min(videos.published_at) as first_published_at,
        max(videos.published_at) as last_published_at,
        sum(case when videos.published_at >= {{ dbt.dateadd('day', -28, 'scrapes.last_scraped_at') }}
            then 1 else 0 end) as videos_last_28_days,
        {{ median('videos.views') }} as median_views,
        sum(case when videos.views > 0
            then coalesce(videos.likes, 0) + coalesce(videos.comments, 0) + coalesce(videos.reposts, 0)
            end) as engagements,
        sum(case when videos.views > 0 then videos.views end) as engaged_views
    from {{ ref('stg_videos') }} as videos
    inner join scrapes on scrapes.profile_url = videos.profile_url
    group by videos.profile_url
),

top_riser as (
    select profile_url, video_id, views_gained
    from {{ ref('top_risers') }}
    where rank = 1
)

select
    scrapes.profile_url,
    scrapes.uploader,
    latest_followers.follower_count,
    scrapes.scrapes,
    scrapes.last_scraped_at,
    coalesce(videos.videos, 0) as videos,
    videos.first_published_at,
    videos.last_published_at,
    coalesce(videos.videos_last_28_days, 0) / 4.0 as videos_per_week,
    cast(videos.median_views as {{ type_double() }}) as median_views,
    cast(videos.engagements as {{ type_double() }}) / nullif(videos.engaged_views, 0) as engagement_rate,
    top_riser.video_id as top_riser_video_id,
    top_riser.views_gained as top_riser_views_gained
from scrapes
left join latest_followers on latest_followers.profile_url = scrapes.profile_url
left join videos on videos.profile_url = scrapes.profile_url
left join top_riser on top_riser.profile_url = scrapes.profile_url
