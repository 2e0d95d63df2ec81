/* config
tags: [features]
as_of: {var: as_of_date}       # point-in-time: runner test --leakage audits it
description: >
  Per user, minutes from the last event of each type to the as-of instant (NULL when the user
  never had one), the Week2 notebook's TIME_BETWEEN_PREVIOUS_MATCH features at a fixed instant.
  (The notebook's dismiss feature matched eventType = 'propositionDismiss', which never occurs;
  here every feature matches the full XDM event type.)
columns:
  user_id: ECID of the user
  minutes_since_email_open: minutes since the last directMarketing.emailOpened
*/
SELECT
  user_id,
  MIN(CASE WHEN event_type = 'directMarketing.emailSent' THEN age_minutes END) AS minutes_since_email_sent,
  MIN(CASE WHEN event_type = 'directMarketing.emailOpened' THEN age_minutes END) AS minutes_since_email_open,
  MIN(CASE WHEN event_type = 'directMarketing.emailClicked' THEN age_minutes END) AS minutes_since_email_click,
  MIN(CASE WHEN event_type = 'web.webpagedetails.pageViews' THEN age_minutes END) AS minutes_since_page_view,
  MIN(CASE WHEN event_type = 'web.webinteraction.linkClicks' THEN age_minutes END) AS minutes_since_link_click,
  MIN(CASE WHEN event_type = 'commerce.productViews' THEN age_minutes END) AS minutes_since_product_view,
  MIN(CASE WHEN event_type = 'commerce.purchases' THEN age_minutes END) AS minutes_since_purchase,
  MIN(CASE WHEN event_type = 'decisioning.propositionInteract' THEN age_minutes END) AS minutes_since_proposition_interact,
  MIN(CASE WHEN event_type = 'decisioning.propositionDismiss' THEN age_minutes END) AS minutes_since_proposition_dismiss,
  MIN(age_minutes) AS minutes_since_any_event
FROM events_history
GROUP BY user_id
