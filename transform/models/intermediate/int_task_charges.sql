{#- Every charge of every task, one row each: a task's usage block lists what it was
    billed for, per meter (service_type), with the quantity and the credits. -#}
with profile_charges as (
    {{ json_array_elements(ref('stg_profile_tasks'), ['task_id', 'completed_at', 'created_at'], 'charges') }}
),

search_charges as (
    {{ json_array_elements(ref('stg_search_tasks'), ['task_id', 'completed_at', 'created_at'], 'charges') }}
),

charges as (
    select 'profile_tasks' as source, task_id, completed_at, created_at, element from profile_charges
    union all
    select 'search_tasks' as source, task_id, completed_at, created_at, element from search_charges
)

select
    source,
    task_id,
    row_number() over (partition by source, task_id order by {{ json_text('element', 'service_type') }}) as charge_number,
    coalesce(completed_at, created_at) as charged_at,
    cast({{ json_text('element', 'service_type') }} as {{ dbt.type_string() }}) as meter,
    {{ json_number(json_text('element', 'quantity')) }} as quantity,
    {{ json_number(json_text('element', 'credits')) }} as credits
from charges
