-- Top countries of the last 7 days: stories that mention each country, and those mainly about it (primary).
-- Run: python -m pipelines.query --output out/ top_countries_this_week   (or paste into duckdb with {output} replaced)
WITH events AS (
    SELECT *
    FROM read_parquet('{output}/events_parquet/*/*.parquet', hive_partitioning = true, union_by_name = true)
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ingested_at DESC) = 1
),
stories AS (
    SELECT *
    FROM events
    WHERE story_id NOT IN (SELECT story_id FROM events WHERE status = 'withdrawn')
    QUALIFY row_number() OVER (
        PARTITION BY story_id ORDER BY coalesce(version, -1) DESC, ingested_at DESC, event_id DESC
    ) = 1
)
SELECT
    c.code AS country,
    any_value(c.name) AS name,
    count(*) AS stories,
    count(*) FILTER (WHERE c."primary") AS primary_stories
FROM stories, unnest(countries) AS u(c)
WHERE published_at >= now() - INTERVAL 7 DAY
GROUP BY c.code
ORDER BY stories DESC, primary_stories DESC, country
LIMIT 20;
