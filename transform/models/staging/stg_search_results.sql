with source as (
    {{ source_or_empty('search_results', [
        'query as search_query', 'id', 'task_id', 'published_at', 'description',
        'author_unique_id', 'author_nickname', 'views', 'likes', 'comments', 'shares',
        'collects', 'music_title', 'duration', 'url']) }}
)

select
    cast(search_query as {{ dbt.type_string() }}) as search_query,
    cast(id as {{ dbt.type_string() }}) as video_id,
    cast(task_id as {{ dbt.type_string() }}) as task_id,
    {{ utc_timestamp('published_at') }} as published_at,
    cast(description as {{ dbt.type_string() }}) as description,
    cast(author_unique_id as {{ dbt.type_string() }}) as author_unique_id,
    cast(author_nickname as {{ dbt.type_string() }}) as author_nickname,
    cast(views as {{ dbt.type_bigint() }}) as views,
    cast(likes as {{ dbt.type_bigint() }}) as likes,
    cast(comments as {{ dbt.type_bigint() }}) as comments,
    cast(shares as {{ dbt.type_bigint() }}) as shares,
    cast(collects as {{ dbt.type_bigint() }}) as collects,
    cast(music_title as {{ dbt.type_string() }}) as music_title,
    cast(duration as {{ type_double() }}) as duration_seconds,
    cast(url as {{ dbt.type_string() }}) as url
from source
