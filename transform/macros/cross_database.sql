{#- The project's own cross-database macros, where dbt-core has none: each a default
    (PostgreSQL's SQL) and the DuckDB and Snowflake forms, picked by adapter.dispatch. -#}

{#- A column of a source table, quoted: the tap's names include words SQL reserves
    (text, query, timestamp). Snowflake's loader writes them upper case. -#}
{% macro source_column(name) -%}
  {{ return(adapter.dispatch('source_column', 'tap_vidnavigator')(name)) }}
{%- endmacro %}
{% macro default__source_column(name) -%}{{ adapter.quote(name) }}{%- endmacro %}
{% macro snowflake__source_column(name) -%}{{ adapter.quote(name | upper) }}{%- endmacro %}

{#- A date-time as the UTC wall time, type timestamp without time zone. target-postgres and
    target-duckdb already write UTC wall times; target-snowflake writes TIMESTAMP_TZ. -#}
{% macro utc_timestamp(expression) -%}
  {{ return(adapter.dispatch('utc_timestamp', 'tap_vidnavigator')(expression)) }}
{%- endmacro %}
{% macro default__utc_timestamp(expression) -%}cast({{ expression }} as {{ dbt.type_timestamp() }}){%- endmacro %}
{% macro snowflake__utc_timestamp(expression) -%}cast(convert_timezone('UTC', {{ expression }}) as timestamp_ntz){%- endmacro %}

{#- Credits and quantities: exact decimals, fractions of a credit included. -#}
{% macro type_credits() -%}decimal(38, 9){%- endmacro %}

{#- Seconds from one timestamp to a later one, fractions included (dbt.datediff truncates). -#}
{% macro seconds_between(earlier, later) -%}
  {{ return(adapter.dispatch('seconds_between', 'tap_vidnavigator')(earlier, later)) }}
{%- endmacro %}
{% macro default__seconds_between(earlier, later) -%}
  cast(extract(epoch from ({{ later }} - {{ earlier }})) as {{ type_double() }})
{%- endmacro %}
{% macro duckdb__seconds_between(earlier, later) -%}
  (cast(epoch_us({{ later }}) - epoch_us({{ earlier }}) as double) / 1000000.0)
{%- endmacro %}
{% macro snowflake__seconds_between(earlier, later) -%}
  (cast(datediff('microsecond', {{ earlier }}, {{ later }}) as double) / 1000000.0)
{%- endmacro %}

{#- The median of an aggregate's values. -#}
{% macro median(expression) -%}
  {{ return(adapter.dispatch('median', 'tap_vidnavigator')(expression)) }}
{%- endmacro %}
{% macro default__median(expression) -%}
  percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}
{% macro duckdb__median(expression) -%}median({{ expression }}){%- endmacro %}
{% macro snowflake__median(expression) -%}median({{ expression }}){%- endmacro %}

{#- One key of a JSON object column, as text. -#}
{% macro json_text(column, key) -%}
  {{ return(adapter.dispatch('json_text', 'tap_vidnavigator')(column, key)) }}
{%- endmacro %}
{% macro default__json_text(column, key) -%}(cast({{ column }} as jsonb) ->> '{{ key }}'){%- endmacro %}
{% macro duckdb__json_text(column, key) -%}json_extract_string(cast({{ column }} as json), '$.{{ key }}'){%- endmacro %}
{% macro snowflake__json_text(column, key) -%}{{ column }}:{{ key }}::varchar{%- endmacro %}

{#- A decimal from JSON text (which may be written 1e-05), without a float between. -#}
{% macro json_number(text) -%}cast({{ text }} as {{ type_credits() }}){%- endmacro %}

{#- A 64-bit float (dbt.type_float() is DuckDB's 32-bit FLOAT). -#}
{% macro type_double() -%}
  {{ return(adapter.dispatch('type_double', 'tap_vidnavigator')()) }}
{%- endmacro %}
{% macro default__type_double() -%}double precision{%- endmacro %}
{% macro duckdb__type_double() -%}double{%- endmacro %}

{#- The elements of a JSON array column (target-postgres writes jsonb[], to_jsonb makes it one jsonb), one row each: `select <keys>, element from <relation>`
    where each element's keys are read with json_text(element, key). -#}
{% macro json_array_elements(relation, keys, column) -%}
  {{ return(adapter.dispatch('json_array_elements', 'tap_vidnavigator')(relation, keys, column)) }}
{%- endmacro %}
{% macro default__json_array_elements(relation, keys, column) -%}
  select {% for key in keys %}source.{{ key }}, {% endfor %}elements.element
  from {{ relation }} as source
  cross join lateral jsonb_array_elements(to_jsonb(source.{{ column }})) as elements(element)
{%- endmacro %}
{% macro duckdb__json_array_elements(relation, keys, column) -%}
  select {% for key in keys %}source.{{ key }}, {% endfor %}elements.element
  from {{ relation }} as source
  cross join unnest(cast(json_extract(cast(source.{{ column }} as json), '$[*]') as json[])) as elements(element)
{%- endmacro %}
{% macro snowflake__json_array_elements(relation, keys, column) -%}
  select {% for key in keys %}source.{{ key }}, {% endfor %}elements.value as element
  from {{ relation }} as source,
  lateral flatten(input => source.{{ column }}) as elements
{%- endmacro %}

{#- The information schema's tables view of the relation's database. -#}
{% macro tables_of_catalog(relation) -%}
  {{ return(adapter.dispatch('tables_of_catalog', 'tap_vidnavigator')(relation)) }}
{%- endmacro %}
{% macro default__tables_of_catalog(relation) -%}{{ relation.information_schema('tables') }}{%- endmacro %}
{#- DuckDB's information schema lists the tables of every attached catalog, and is in none
    of them: "warehouse".information_schema does not exist. -#}
{% macro duckdb__tables_of_catalog(relation) -%}information_schema.tables{%- endmacro %}
