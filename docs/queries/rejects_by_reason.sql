-- Rejects by stage and reason: distinct bad inputs (reject_id), how often they were seen, and from how many sources.
-- Run: python -m pipelines.query --output out/ rejects_by_reason   (or paste into duckdb with {output} replaced)
SELECT
    stage,
    reason,
    count(DISTINCT reject_id) AS inputs,
    count(*) AS occurrences,
    count(DISTINCT source.id) AS sources,
    max(ingested_at) AS last_seen
FROM read_json_auto('{output}/rejects/*/*.jsonl', hive_partitioning = true, union_by_name = true)
GROUP BY ALL
ORDER BY inputs DESC, stage, reason;
