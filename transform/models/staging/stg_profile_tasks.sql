with source as (
    {{ source_or_empty('profile_tasks', [
        'task_id', 'task_status', 'profile_url', 'uploader', 'follower_count', 'stats',
        'error_code', 'error_message', 'credits_used', 'credits_remaining_after',
        'credits_saved', 'charges', 'created_at', 'completed_at', 'expires_at']) }}
)

select
    cast(task_id as {{ dbt.type_string() }}) as task_id,
    cast(task_status as {{ dbt.type_string() }}) as task_status,
    cast(profile_url as {{ dbt.type_string() }}) as profile_url,
    cast(uploader as {{ dbt.type_string() }}) as uploader,
    cast(follower_count as {{ dbt.type_bigint() }}) as follower_count,
    cast({{ json_text('stats', 'videos_scanned') }} as {{ dbt.type_bigint() }}) as videos_scanned,
    cast({{ json_text('stats', 'videos_matched') }} as {{ dbt.type_bigint() }}) as videos_matched,
    cast({{ json_text('stats', 'pages_consumed') }} as {{ dbt.type_bigint() }}) as pages_consumed,
    cast(error_code as {{ dbt.type_string() }}) as error_code,
    cast(error_message as {{ dbt.type_string() }}) as error_message,
    cast(credits_used as {{ type_credits() }}) as credits_used,
    cast(credits_remaining_after as {{ type_credits() }}) as credits_remaining_after,
    cast(credits_saved as {{ type_credits() }}) as credits_saved,
    charges,
    {{ utc_timestamp('created_at') }} as created_at,
    {{ utc_timestamp('completed_at') }} as completed_at,
    {{ utc_timestamp('expires_at') }} as expires_at
from source
