with source as (
    {{ source_or_empty('account_usage', [
        'read_at', 'generated_at', 'balance', 'monthly_total', 'monthly_remaining',
        'monthly_unlimited', 'purchased', 'plan_name', 'subscription_status',
        'period_start', 'period_end', 'standard_request_used', 'residential_request_used',
        'search_request_used', 'analysis_request_used', 'transcription_hour_used']) }}
)

select
    {{ utc_timestamp('read_at') }} as read_at,
    {{ utc_timestamp('generated_at') }} as generated_at,
    cast(balance as {{ type_credits() }}) as balance,
    cast(monthly_total as {{ type_credits() }}) as monthly_total,
    cast(monthly_remaining as {{ type_credits() }}) as monthly_remaining,
    cast(monthly_unlimited as {{ dbt.type_boolean() }}) as monthly_unlimited,
    cast(purchased as {{ type_credits() }}) as purchased,
    cast(plan_name as {{ dbt.type_string() }}) as plan_name,
    cast(subscription_status as {{ dbt.type_string() }}) as subscription_status,
    {{ utc_timestamp('period_start') }} as period_start,
    {{ utc_timestamp('period_end') }} as period_end,
    cast(standard_request_used as {{ type_credits() }}) as standard_request_used,
    cast(residential_request_used as {{ type_credits() }}) as residential_request_used,
    cast(search_request_used as {{ type_credits() }}) as search_request_used,
    cast(analysis_request_used as {{ type_credits() }}) as analysis_request_used,
    cast(transcription_hour_used as {{ type_credits() }}) as transcription_hour_used
from source
