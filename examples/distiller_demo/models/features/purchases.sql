/* config
as_of: as_of_date   # point-in-time: runner test --leakage audits it
*/
SELECT user_id, count(*) AS purchases, sum(value) AS purchase_value
FROM stg_events
WHERE event_type = 'purchase'
GROUP BY user_id
