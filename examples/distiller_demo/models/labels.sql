/* config
description: 1 when the user subscribed in the 30 days from the as-of date.
*/
SELECT c.user_id,
       CASE WHEN count(e.user_id) > 0 THEN 1 ELSE 0 END AS subscribed
FROM stg_customers c
LEFT JOIN web_events e
  ON e.user_id = c.user_id
 AND e.event_type = 'subscribe'
 AND e.ts >= CAST(var('as_of_date') AS TIMESTAMP)
 AND e.ts < CAST(date_add(CAST(var('as_of_date') AS DATE), 30) AS TIMESTAMP)
GROUP BY c.user_id
