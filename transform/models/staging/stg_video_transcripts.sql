with source as (
    {{ source_or_empty('video_transcripts', [
        'video_id', 'video_url', 'found_by', 'subject', 'published_at', 'text_source',
        'language', 'text as transcript', 'duration', 'views', 'no_transcript_reason',
        'task_id', 'credits_used', 'fetched_at']) }}
)

select
    cast(video_id as {{ dbt.type_string() }}) as video_id,
    cast(video_url as {{ dbt.type_string() }}) as video_url,
    cast(found_by as {{ dbt.type_string() }}) as found_by,
    cast(subject as {{ dbt.type_string() }}) as subject,
    {{ utc_timestamp('published_at') }} as published_at,
    cast(text_source as {{ dbt.type_string() }}) as text_source,
    cast(language as {{ dbt.type_string() }}) as language,
    cast(transcript as {{ dbt.type_string() }}) as transcript,
    cast(duration as {{ type_double() }}) as duration_seconds,
    cast(views as {{ dbt.type_bigint() }}) as views,
    cast(no_transcript_reason as {{ dbt.type_string() }}) as no_transcript_reason,
    cast(task_id as {{ dbt.type_string() }}) as task_id,
    cast(credits_used as {{ type_credits() }}) as credits_used,
    {{ utc_timestamp('fetched_at') }} as fetched_at
from source
