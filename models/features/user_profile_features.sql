/* config
tags: [features]
as_of: {var: as_of_date}       # point-in-time: runner test --leakage audits it
description: Profile attributes of each user of the population, as of the as-of date.
columns:
  age: years between the birth year and the as-of year (NULL when the birth year is unknown)
  loyalty_tier_rank: 0 non-member, 1 bronze, 2 silver, 3 gold, 4 platinum
  tenure_days: days from the profile's creation to the as-of date
*/
SELECT
  p.user_id,
  year(CAST(var('as_of_date') AS DATE)) - p.birth_year AS age,
  COALESCE(p.gender, 'unknown') AS gender,
  p.country_code,
  CASE p.loyalty_tier
    WHEN 'bronze' THEN 1 WHEN 'silver' THEN 2 WHEN 'gold' THEN 3 WHEN 'platinum' THEN 4 ELSE 0
  END AS loyalty_tier_rank,
  COALESCE(p.loyalty_points, 0) AS loyalty_points,
  p.email_opt_in,
  datediff(CAST(var('as_of_date') AS DATE), to_date(p.created_at)) AS tenure_days
FROM stg_profiles AS p
JOIN users_as_of AS u ON u.user_id = p.user_id
