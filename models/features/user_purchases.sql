/* config
tags: [features]
as_of: {var: as_of_date}       # point-in-time: runner test --leakage audits it
description: >
  Per user, what they spent before the as-of instant (commerce.order.priceTotal of purchases;
  0 for users who bought nothing).
columns:
  revenue_30d: total order value in the 30 days before the as-of date
  revenue_90d: total order value in the 90 days before the as-of date
  avg_order_value_90d: revenue_90d per order (NULL without orders)
  revenue_to_date: total order value of every purchase before the as-of instant
*/
WITH purchases AS (
  SELECT user_id, order_total, age_days
  FROM events_history
  WHERE event_type = 'commerce.purchases'
)
SELECT
  u.user_id,
  COALESCE(SUM(CASE WHEN p.age_days < 30 THEN p.order_total END), 0) AS revenue_30d,
  COALESCE(SUM(CASE WHEN p.age_days < 90 THEN p.order_total END), 0) AS revenue_90d,
  safe_ratio(SUM(CASE WHEN p.age_days < 90 THEN p.order_total END), COUNT(CASE WHEN p.age_days < 90 THEN 1 END)) AS avg_order_value_90d,
  COALESCE(SUM(p.order_total), 0) AS revenue_to_date
FROM users_as_of AS u
LEFT JOIN purchases AS p ON p.user_id = u.user_id
GROUP BY u.user_id
