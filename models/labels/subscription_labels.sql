/* config
tags: [labels]
description: >
  The label: 1 when the user subscribed (web.formFilledOut on the page subscriptionForm) within
  label_window_days after the as-of date, else 0. Users who had subscribed before the as-of
  instant are not in the training population.
columns:
  user_id:
    description: ECID of the user
    data_tests:
      - relationships: {to: stg_profiles, field: user_id}
  subscribed: 1 for a subscription in [as_of_date, as_of_date + label_window_days)
*/
WITH subscriptions AS (
  SELECT user_id, MIN(event_ts) AS first_subscribed_at
  FROM stg_events
  WHERE event_type = 'web.formFilledOut' AND page_name = 'subscriptionForm'
  GROUP BY user_id
)
SELECT
  u.user_id,
  CASE WHEN s.first_subscribed_at < label_end_ts() THEN 1 ELSE 0 END AS subscribed
FROM users_as_of AS u
LEFT JOIN subscriptions AS s ON s.user_id = u.user_id
WHERE s.first_subscribed_at IS NULL OR s.first_subscribed_at >= as_of_ts()
