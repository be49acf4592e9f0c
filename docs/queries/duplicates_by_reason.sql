-- Duplicates by reason: distinct copies (event_id) folded into another story, per reason, with mean similarity.
-- Run: python -m pipelines.query --output out/ duplicates_by_reason   (or paste into duckdb with {output} replaced)
WITH duplicates AS (
    -- delivery is at-least-once: the same copy may appear in more than one file
    SELECT *
    FROM read_json_auto('{output}/duplicates/*/*.jsonl', hive_partitioning = true, union_by_name = true)
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ingested_at DESC) = 1
)
SELECT
    reason,
    count(*) AS copies,
    count(DISTINCT duplicate_of) AS stories,
    count(DISTINCT source.id) AS sources,
    round(avg(similarity), 2) AS avg_similarity
FROM duplicates
GROUP BY ALL
ORDER BY copies DESC, reason;
