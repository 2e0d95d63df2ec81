/* config
tags: [features]
as_of: {var: as_of_date}       # point-in-time: runner test --leakage audits it
description: >
  Per user, how many events of each type happened in the 7, 30 and 90 days before the as-of
  instant (0 when none; every user of the population has a row).
columns:
  user_id: ECID of the user
  emails_sent_7d: directMarketing.emailSent events in the 7 days before the as-of date
  emails_clicked_30d: directMarketing.emailClicked events in the 30 days before the as-of date
*/
SELECT
  u.user_id,
  COUNT(CASE WHEN e.event_type = 'directMarketing.emailSent' AND e.age_days < 7 THEN 1 END) AS emails_sent_7d,
  COUNT(CASE WHEN e.event_type = 'directMarketing.emailOpened' AND e.age_days < 7 THEN 1 END) AS emails_opened_7d,
  COUNT(CASE WHEN e.event_type = 'directMarketing.emailClicked' AND e.age_days < 7 THEN 1 END) AS emails_clicked_7d,
  COUNT(CASE WHEN e.event_type = 'web.webpagedetails.pageViews' AND e.age_days < 7 THEN 1 END) AS page_views_7d,
  COUNT(CASE WHEN e.event_type = 'web.webinteraction.linkClicks' AND e.age_days < 7 THEN 1 END) AS link_clicks_7d,
  COUNT(CASE WHEN e.event_type = 'commerce.productViews' AND e.age_days < 7 THEN 1 END) AS product_views_7d,
  COUNT(CASE WHEN e.event_type = 'commerce.purchases' AND e.age_days < 7 THEN 1 END) AS purchases_7d,
  COUNT(CASE WHEN e.event_type = 'decisioning.propositionDisplay' AND e.age_days < 7 THEN 1 END) AS proposition_displays_7d,
  COUNT(CASE WHEN e.event_type = 'decisioning.propositionInteract' AND e.age_days < 7 THEN 1 END) AS proposition_interacts_7d,
  COUNT(CASE WHEN e.event_type = 'decisioning.propositionDismiss' AND e.age_days < 7 THEN 1 END) AS proposition_dismisses_7d,
  COUNT(CASE WHEN e.event_type = 'advertising.clicks' AND e.age_days < 7 THEN 1 END) AS ad_clicks_7d,
  COUNT(CASE WHEN e.event_type = 'directMarketing.emailSent' AND e.age_days < 30 THEN 1 END) AS emails_sent_30d,
  COUNT(CASE WHEN e.event_type = 'directMarketing.emailOpened' AND e.age_days < 30 THEN 1 END) AS emails_opened_30d,
  COUNT(CASE WHEN e.event_type = 'directMarketing.emailClicked' AND e.age_days < 30 THEN 1 END) AS emails_clicked_30d,
  COUNT(CASE WHEN e.event_type = 'web.webpagedetails.pageViews' AND e.age_days < 30 THEN 1 END) AS page_views_30d,
  COUNT(CASE WHEN e.event_type = 'web.webinteraction.linkClicks' AND e.age_days < 30 THEN 1 END) AS link_clicks_30d,
  COUNT(CASE WHEN e.event_type = 'commerce.productViews' AND e.age_days < 30 THEN 1 END) AS product_views_30d,
  COUNT(CASE WHEN e.event_type = 'commerce.purchases' AND e.age_days < 30 THEN 1 END) AS purchases_30d,
  COUNT(CASE WHEN e.event_type = 'decisioning.propositionDisplay' AND e.age_days < 30 THEN 1 END) AS proposition_displays_30d,
  COUNT(CASE WHEN e.event_type = 'decisioning.propositionInteract' AND e.age_days < 30 THEN 1 END) AS proposition_interacts_30d,
  COUNT(CASE WHEN e.event_type = 'decisioning.propositionDismiss' AND e.age_days < 30 THEN 1 END) AS proposition_dismisses_30d,
  COUNT(CASE WHEN e.event_type = 'advertising.clicks' AND e.age_days < 30 THEN 1 END) AS ad_clicks_30d,
  COUNT(CASE WHEN e.event_type = 'directMarketing.emailSent' AND e.age_days < 90 THEN 1 END) AS emails_sent_90d,
  COUNT(CASE WHEN e.event_type = 'directMarketing.emailOpened' AND e.age_days < 90 THEN 1 END) AS emails_opened_90d,
  COUNT(CASE WHEN e.event_type = 'directMarketing.emailClicked' AND e.age_days < 90 THEN 1 END) AS emails_clicked_90d,
  COUNT(CASE WHEN e.event_type = 'web.webpagedetails.pageViews' AND e.age_days < 90 THEN 1 END) AS page_views_90d,
  COUNT(CASE WHEN e.event_type = 'web.webinteraction.linkClicks' AND e.age_days < 90 THEN 1 END) AS link_clicks_90d,
  COUNT(CASE WHEN e.event_type = 'commerce.productViews' AND e.age_days < 90 THEN 1 END) AS product_views_90d,
  COUNT(CASE WHEN e.event_type = 'commerce.purchases' AND e.age_days < 90 THEN 1 END) AS purchases_90d,
  COUNT(CASE WHEN e.event_type = 'decisioning.propositionDisplay' AND e.age_days < 90 THEN 1 END) AS proposition_displays_90d,
  COUNT(CASE WHEN e.event_type = 'decisioning.propositionInteract' AND e.age_days < 90 THEN 1 END) AS proposition_interacts_90d,
  COUNT(CASE WHEN e.event_type = 'decisioning.propositionDismiss' AND e.age_days < 90 THEN 1 END) AS proposition_dismisses_90d,
  COUNT(CASE WHEN e.event_type = 'advertising.clicks' AND e.age_days < 90 THEN 1 END) AS ad_clicks_90d
FROM users_as_of AS u
LEFT JOIN events_history AS e ON e.user_id = u.user_id
GROUP BY u.user_id
