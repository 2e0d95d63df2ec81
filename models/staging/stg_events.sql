/* config
materialized: incremental
incremental: {time_column: event_ts, lookback: 2 days, unique_key: event_id}
tags: [staging]
description: >
  One row per experience event, flattened: the user's ECID from identityMap, the event type and
  time, and the nested XDM fields the features use. Incremental: a build appends the events
  newer than the table's latest, re-reading the last two days for late arrivals.
columns:
  user_id: ECID of the user (identityMap['ECID'][0].id)
  event_id: the event's XDM _id
  event_type: XDM eventType
  event_ts: XDM timestamp (UTC)
  page_name: web.webPageDetails.name (web events)
  order_total: commerce.order.priceTotal (purchases)
  message_id: directMarketing.messageID (email events)
*/
SELECT
  identityMap['ECID'][0].id AS user_id,
  _id AS event_id,
  eventType AS event_type,
  timestamp AS event_ts,
  web.webPageDetails.name AS page_name,
  commerce.order.priceTotal AS order_total,
  directMarketing.messageID AS message_id
FROM experience_events
WHERE identityMap['ECID'][0].id IS NOT NULL
