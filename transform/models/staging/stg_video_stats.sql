with source as (
    {{ source_or_empty('video_stats', [
        'video_id', 'task_id', 'observed_at', 'source', 'profile_url', 'query as search_query',
        'views', 'likes', 'comments', 'reposts', 'shares', 'collects']) }}
)

select
    cast(video_id as {{ dbt.type_string() }}) as video_id,
    cast(task_id as {{ dbt.type_string() }}) as task_id,
    {{ utc_timestamp('observed_at') }} as observed_at,
    cast(source as {{ dbt.type_string() }}) as source,
    cast(profile_url as {{ dbt.type_string() }}) as profile_url,
    cast(search_query as {{ dbt.type_string() }}) as search_query,
    cast(views as {{ dbt.type_bigint() }}) as views,
    cast(likes as {{ dbt.type_bigint() }}) as likes,
    cast(comments as {{ dbt.type_bigint() }}) as comments,
    cast(reposts as {{ dbt.type_bigint() }}) as reposts,
    cast(shares as {{ dbt.type_bigint() }}) as shares,
    cast(collects as {{ dbt.type_bigint() }}) as collects
from source
