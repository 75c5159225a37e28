with source as (
    {{ source_or_empty('video_extractions', [
        'video_id', 'video_url', 'found_by', 'profile_url', 'query', 'task_id',
        'schema_fingerprint', 'extracted_at', 'credits_used', 'error_code', 'error_message']) }}
)

{#- The stream's own columns only: the user's columns follow the user's schema (select
    them from the source table, or add a model of your own over it). -#}
select
    cast(video_id as {{ dbt.type_string() }}) as video_id,
    cast(video_url as {{ dbt.type_string() }}) as video_url,
    cast(found_by as {{ dbt.type_string() }}) as found_by,
    cast(profile_url as {{ dbt.type_string() }}) as profile_url,
    cast(query as {{ dbt.type_string() }}) as search_query,
    cast(task_id as {{ dbt.type_string() }}) as task_id,
    cast(schema_fingerprint as {{ dbt.type_string() }}) as schema_fingerprint,
    {{ utc_timestamp('extracted_at') }} as extracted_at,
    cast(credits_used as {{ type_credits() }}) as credits_used,
    cast(error_code as {{ dbt.type_string() }}) as error_code,
    cast(error_message as {{ dbt.type_string() }}) as error_message
from source
