with source as (
    {{ source_or_empty('videos', [
        'id', 'task_id', 'profile_url', 'uploader', 'published_at', 'title',
        'description', 'track', 'duration', 'views', 'likes', 'reposts', 'comments', 'url']) }}
)

select
    cast(id as {{ dbt.type_string() }}) as video_id,
    cast(task_id as {{ dbt.type_string() }}) as task_id,
    cast(profile_url as {{ dbt.type_string() }}) as profile_url,
    cast(uploader as {{ dbt.type_string() }}) as uploader,
    {{ utc_timestamp('published_at') }} as published_at,
    cast(title as {{ dbt.type_string() }}) as title,
    cast(description as {{ dbt.type_string() }}) as description,
    cast(track as {{ dbt.type_string() }}) as track,
    cast(duration as {{ type_double() }}) as duration_seconds,
    cast(views as {{ dbt.type_bigint() }}) as views,
    cast(likes as {{ dbt.type_bigint() }}) as likes,
    cast(reposts as {{ dbt.type_bigint() }}) as reposts,
    cast(comments as {{ dbt.type_bigint() }}) as comments,
    cast(url as {{ dbt.type_string() }}) as url
from source
