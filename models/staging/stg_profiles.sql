/* config
materialized: view
tags: [staging]
description: One row per profile, flattened to the attributes a propensity model uses.
columns:
  user_id: ECID of the user
  birth_year: person.birthYear (may be NULL)
  gender: person.gender (may be NULL)
  country_code: homeAddress.countryCode
  loyalty_tier: loyalty.tier (NULL for non-members)
  loyalty_points: loyalty.points (NULL for non-members)
  email_opt_in: 1 when consents.marketing.email.val = 'y'
  created_at: extSourceSystemAudit.createdDate, when the profile was created (UTC)
*/
SELECT
  identityMap['ECID'][0].id AS user_id,
  person.birthYear AS birth_year,
  person.gender AS gender,
  homeAddress.countryCode AS country_code,
  loyalty.tier AS loyalty_tier,
  loyalty.points AS loyalty_points,
  CASE WHEN consents.marketing.email.val = 'y' THEN 1 ELSE 0 END AS email_opt_in,
  extSourceSystemAudit.createdDate AS created_at
FROM profiles
WHERE identityMap['ECID'][0].id IS NOT NULL
