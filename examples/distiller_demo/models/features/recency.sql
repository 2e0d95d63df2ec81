/* config
as_of: as_of_date   # point-in-time: runner test --leakage audits it
*/
SELECT user_id,
       datediff(CAST(var('as_of_date') AS DATE), CAST(max(ts) AS DATE)) AS days_since_last_event
FROM stg_events
GROUP BY user_id
