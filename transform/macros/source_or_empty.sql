{#- The columns of a source table, or no rows of them when the table is not there (the
    stream was not selected, or has not been loaded yet): a staging model over it is then
    built empty, with a line saying so, and so is everything built from it, instead of the
    whole build failing on a missing table. -#}
{#- columns: the source's column names, each "name" or "name as alias" (words SQL reserves). -#}
{% macro source_or_empty(table, columns) -%}
  {%- set relation = source('tap_vidnavigator', table) -%}
  {%- set found = none -%}
  {%- if execute -%}
    {%- set found = adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
  {%- endif -%}
  {%- if found is none and execute -%}
    {{ log("tap_vidnavigator: " ~ relation ~ " is not there (stream " ~ table ~ " not selected or not loaded yet): " ~ this.identifier ~ " is built empty", info=True) }}
    select {% for column in columns %}null as {{ column.split(' as ')[-1] }}{% if not loop.last %}, {% endif %}{% endfor %}
    where 1 = 0
  {%- else -%}
    select {% for column in columns %}{{ source_column(column.split(' as ')[0]) }} as {{ column.split(' as ')[-1] }}{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ relation }}
  {%- endif -%}
{%- endmacro %}
