/* config
materialized: view
description: Events before the as-of date (every feature reads only these).
*/
SELECT user_id, event_type, ts, value
FROM web_events
WHERE ts < CAST(var('as_of_date') AS TIMESTAMP)
