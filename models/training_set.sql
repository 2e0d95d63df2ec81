/* config
tags: [training]
as_of: {var: as_of_date, ignore: [subscribed]}  # the label looks after the as-of date
description: >
  One row per user eligible at the as-of date: every feature (computed only from events before
  the as-of instant) and the label `subscribed`, ready to export for training.
columns:
  user_id:
    description: ECID of the user
    data_tests: [not_null, unique]
  as_of_date:
    description: the date the features were computed at
    data_tests: [not_null]
  subscribed:
    description: the label (see subscription_labels)
    data_tests:
      - accepted_values: {values: [0, 1], quote: false}
data_tests:
  - row_count: {min: 100}
  - expression: "emails_opened_7d <= emails_opened_30d AND page_views_7d <= page_views_30d"
  - expression:
      expression: "emails_clicked_30d >= 0"
      config: {severity: warn}
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
