{#- The account's balance over time: one row per run (account_usage), with what changed
    since the run before. -#}
select
    read_at,
    balance,
    balance - lag(balance) over (order by read_at) as balance_change,
    monthly_total,
    monthly_remaining,
    purchased,
    plan_name,
    period_start,
    period_end,
    standard_request_used,
    search_request_used,
    transcription_hour_used
from {{ ref('stg_account_usage') }}
