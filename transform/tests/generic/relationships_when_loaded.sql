{#- dbt's relationships test across two streams: each value is in the other model, once
    that model has rows. A user may select one stream without the other (videos without
    profile_tasks); its model is then built empty and this test passes. -#}
{% test relationships_when_loaded(model, column_name, to, field) %}
select child.{{ column_name }}
from {{ model }} as child
where child.{{ column_name }} is not null
    and exists (select 1 from {{ to }})
    and not exists (
        select 1 from {{ to }} as parent where parent.{{ field }} = child.{{ column_name }}
    )
{% endtest %}
