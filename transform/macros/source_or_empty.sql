{#- The columns of a source table, or no rows of them when the table is not there (the
    stream was not selected, or has not been loaded yet): a staging model over it is then
    built empty, with a line saying so, and so is everything built from it, instead of the
    whole build failing on a missing table. -#}
{#- columns: the source's column names, each "name" or "name as alias" (words SQL reserves). -#}
{% macro source_or_empty(table, columns) -%}
  {%- set relation = source('tap_vidnavigator', table) -%}
  {%- if execute and not source_table_exists(relation) -%}
    {{ log("tap_vidnavigator: " ~ relation ~ " is not there (stream " ~ table ~ " not selected or not loaded yet): " ~ this.identifier ~ " is built empty", info=True) }}
    select {% for column in columns %}null as {{ column.split(' as ')[-1] }}{% if not loop.last %}, {% endif %}{% endfor %}
    where 1 = 0
  {%- else -%}
    select {% for column in columns %}{{ source_column(column.split(' as ')[0]) }} as {{ column.split(' as ')[-1] }}{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ relation }}
  {%- endif -%}
{%- endmacro %}

{#- Whether a source table is there, asked of the warehouse's information schema each time,
    not of dbt's relation cache (adapter.get_relation): on a cache miss dbt-adapters'
    list_relations adds a schema's tables to the cache one at a time, and the schema counts
    as cached from the first. A staging model on another thread asking then sees only the
    tables added so far, and a loaded table is built empty (the likely cause of a
    PostgreSQL build, 4 threads on a loaded machine, whose credits_daily had no search).
    tests/e2e/test_models_e2e.py runs the models with that cache saying "no tables". -#}
{% macro source_table_exists(relation) -%}
  {%- set query -%}
    select count(*) from {{ tables_of_catalog(relation) }}
    where lower(table_schema) = lower('{{ relation.schema }}')
      and lower(table_name) = lower('{{ relation.identifier }}')
      {%- if relation.database %}
      and lower(table_catalog) = lower('{{ relation.database }}')
      {%- endif %}
  {%- endset -%}
  {{ return(run_query(query).columns[0].values()[0] > 0) }}
{%- endmacro %}
