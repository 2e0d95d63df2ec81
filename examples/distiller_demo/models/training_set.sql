/* config
as_of: {var: as_of_date, ignore: [subscribed]}  # the label looks after the as-of date
*/
SELECT c.user_id, c.tier,
       coalesce(n.events, 0) AS events,
       coalesce(n.product_views, 0) AS product_views,
       coalesce(n.email_clicks, 0) AS email_clicks,
       coalesce(p.purchases, 0) AS purchases,
       coalesce(p.purchase_value, 0) AS purchase_value,
       r.days_since_last_event,
       l.subscribed
FROM stg_customers c
JOIN labels l ON l.user_id = c.user_id
LEFT JOIN event_counts n ON n.user_id = c.user_id
LEFT JOIN purchases p ON p.user_id = c.user_id
LEFT JOIN recency r ON r.user_id = c.user_id
