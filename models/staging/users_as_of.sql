/* config
materialized: ephemeral
tags: [staging]
description: The population at the as-of instant, one row per user whose profile existed then.
*/
SELECT user_id
FROM stg_profiles
WHERE created_at < as_of_ts()
