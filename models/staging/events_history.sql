/* config
materialized: ephemeral
tags: [staging]
description: >
  The events every feature may see: strictly before the as-of instant (point-in-time
  correctness lives here, once), with each event's age at that instant.
columns:
  age_minutes: minutes from the event to the as-of instant (> 0)
  age_days: age_minutes in days
*/
SELECT
  user_id,
  event_type,
  event_ts,
  page_name,
  order_total,
  minutes_between(event_ts, as_of_ts()) AS age_minutes,
  minutes_between(event_ts, as_of_ts()) / 1440 AS age_days
FROM stg_events
WHERE event_ts < as_of_ts()
