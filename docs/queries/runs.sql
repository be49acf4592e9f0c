-- The 20 latest runs from their manifests: when, what they read and wrote, and whether the books balanced.
-- Run: python -m pipelines.query --output out/ runs   (or paste into duckdb with {output} replaced)
SELECT
    run_id,
    started_at,
    finished_at,
    totals.items_read AS items_read,
    totals.events AS events,
    totals.duplicates AS duplicates,
    totals.rejects AS rejects,
    totals.held AS held,
    balanced
FROM read_json(
    '{output}/runs/*.json',
    -- only the columns used, so manifests of any version and any set of sources read alike
    columns = {
        run_id: 'VARCHAR', started_at: 'TIMESTAMPTZ', finished_at: 'TIMESTAMPTZ', balanced: 'BOOLEAN',
        totals: 'STRUCT(items_read BIGINT, events BIGINT, duplicates BIGINT, rejects BIGINT, held BIGINT)'
    }
)
ORDER BY started_at DESC
LIMIT 20;
