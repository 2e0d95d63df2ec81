/* config
tags: [training]
description: >
  One row per user eligible at the as-of date: every feature (computed only from events before
  the as-of instant) and the label `subscribed`, ready to export for training.
columns:
  user_id: ECID of the user
  as_of_date: the date the features were computed at
  subscribed: the label (see subscription_labels)
*/
SELECT
  CAST(var('as_of_date') AS DATE) AS as_of_date,
  *
FROM user_profile_features
JOIN user_event_counts USING (user_id)
LEFT JOIN user_recency USING (user_id)
JOIN user_engagement USING (user_id)
JOIN user_purchases USING (user_id)
JOIN subscription_labels USING (user_id)
