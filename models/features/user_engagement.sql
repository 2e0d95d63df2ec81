/* config
tags: [features]
as_of: {var: as_of_date}       # point-in-time: runner test --leakage audits it
description: >
  Per user, engagement ratios over the 90 days before the as-of instant, in percent (NULL when
  the denominator is 0).
columns:
  open_rate_90d: emails opened per email sent
  click_through_rate_90d: emails clicked per email opened
  click_to_send_rate_90d: emails clicked per email sent
  product_conversion_90d: purchases per product view
  proposition_interact_rate_90d: proposition interacts per proposition display
  page_views_recent_share: share of the 90-day page views that fell in the last 30 days
*/
SELECT
  user_id,
  pct(emails_opened_90d, emails_sent_90d) AS open_rate_90d,
  pct(emails_clicked_90d, emails_opened_90d) AS click_through_rate_90d,
  pct(emails_clicked_90d, emails_sent_90d) AS click_to_send_rate_90d,
  pct(purchases_90d, product_views_90d) AS product_conversion_90d,
  pct(proposition_interacts_90d, proposition_displays_90d) AS proposition_interact_rate_90d,
  pct(page_views_30d, page_views_90d) AS page_views_recent_share
FROM user_event_counts
