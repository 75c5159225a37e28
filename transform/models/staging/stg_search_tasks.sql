with source as (
    {{ source_or_empty('search_tasks', [
        'task_id', 'task_status', 'query as search_query', 'stats', 'error_code',
        'error_message', 'credits_used', 'credits_remaining_after', 'credits_saved',
        'charges', 'created_at', 'completed_at', 'expires_at']) }}
)

select
    cast(task_id as {{ dbt.type_string() }}) as task_id,
    cast(task_status as {{ dbt.type_string() }}) as task_status,
    cast(search_query as {{ dbt.type_string() }}) as search_query,
    cast({{ json_text('stats', 'results_count') }} as {{ dbt.type_bigint() }}) as results_count,
    cast({{ json_text('stats', 'pages_fetched') }} as {{ dbt.type_bigint() }}) as pages_fetched,
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
