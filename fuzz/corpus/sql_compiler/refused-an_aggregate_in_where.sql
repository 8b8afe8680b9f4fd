    WITH cte AS (
        SELECT
            id, 
            CAST(event_datetime AS TIMESTAMP) AS ts
        FROM PCOLLECTION
    )
    SELECT
        id AS event_id,
        CAST(TUMBLE_START(ts, INTERVAL '20' SECOND) AS VARCHAR) AS window_start,
        CAST(TUMBLE_END(ts, INTERVAL '20' SECOND) AS VARCHAR) AS window_end,
        COUNT(*) AS page_view
    FROM cte
    WHERE COUNT(*) > 1
    GROUP BY
        TUMBLE(ts, INTERVAL '20' SECOND), id
