SELECT user_id, upper(tier) AS tier, signup_date
FROM customers
WHERE signup_date < CAST(var('as_of_date') AS DATE)
