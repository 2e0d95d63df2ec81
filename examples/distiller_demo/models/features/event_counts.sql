/* config
as_of: as_of_date   # point-in-time: runner test --leakage audits it
*/
SELECT user_id,
       count(*) AS events,
       sum(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END) AS product_views,
       sum(CASE WHEN event_type = 'email_click' THEN 1 ELSE 0 END) AS email_clicks
FROM stg_events
GROUP BY user_id
