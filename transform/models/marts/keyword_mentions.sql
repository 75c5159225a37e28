{#- Mentions of the `keywords` var (dbt_project.yml; DBT_KEYWORDS) in video_transcripts' text, per
    creator (the profile's handle, or a search result's author) and day of publication. -#}
{%- set keywords = var('keywords') -%}
{%- if keywords is string -%}{%- set keywords = keywords.split(',') -%}{%- endif -%}
{%- set keywords = keywords | map('trim') | map('lower') | reject('equalto', '') | unique | list -%}
with keywords as (
    {%- for keyword in keywords %}
    select cast('{{ keyword | replace("'", "''") }}' as {{ dbt.type_string() }}) as keyword
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select cast(null as {{ dbt.type_string() }}) as keyword where 1 = 0
    {%- endfor %}
),

authors as (
    select video_id, min(author_unique_id) as author_unique_id
    from {{ ref('stg_search_results') }}
    group by video_id
),

transcripts as (
    select
        transcripts.video_id,
        coalesce(videos.uploader, authors.author_unique_id, transcripts.subject) as creator,
        cast(coalesce(transcripts.published_at, videos.published_at) as date) as published_on,
        lower(transcripts.transcript) as transcript
    from {{ ref('stg_video_transcripts') }} as transcripts
    left join {{ ref('stg_videos') }} as videos on videos.video_id = transcripts.video_id
    left join authors on authors.video_id = transcripts.video_id
    where transcripts.transcript is not null
)

select
    transcripts.creator,
    transcripts.published_on,
    keywords.keyword,
    count(*) as videos_mentioning,
    sum(cast((length(transcripts.transcript)
        - length(replace(transcripts.transcript, keywords.keyword, '')))
        / length(keywords.keyword) as {{ dbt.type_bigint() }})) as mentions
from transcripts
inner join keywords on transcripts.transcript like '%' || keywords.keyword || '%'
group by transcripts.creator, transcripts.published_on, keywords.keyword
