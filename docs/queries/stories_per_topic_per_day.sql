-- Stories per topic per day (UTC publication date): each story counted once, at its latest version, withdrawn stories removed.
-- Run: python -m pipelines.query --output out/ stories_per_topic_per_day   (or paste into duckdb with {output} replaced)
WITH events AS (
    -- delivery is at-least-once: the same event_id may appear in more than one file
    SELECT *
    FROM read_parquet('{output}/events_parquet/*/*.parquet', hive_partitioning = true, union_by_name = true)
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ingested_at DESC) = 1
),
stories AS (
    -- a tombstone (status 'withdrawn') removes its story; otherwise the highest version of a story wins
    SELECT *
    FROM events
    WHERE story_id NOT IN (SELECT story_id FROM events WHERE status = 'withdrawn')
    QUALIFY row_number() OVER (
        PARTITION BY story_id ORDER BY coalesce(version, -1) DESC, ingested_at DESC, event_id DESC
    ) = 1
)
SELECT
    timezone('UTC', published_at)::DATE AS day,
    t.id AS topic,
    count(*) AS stories,
    round(avg(t.score), 2) AS avg_score
FROM stories, unnest(topics) AS u(t)
GROUP BY ALL
ORDER BY day DESC, stories DESC, topic;
