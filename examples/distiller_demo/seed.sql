-- Raw sources for the demo, in the emulator's engine (PostgreSQL): 200 customers and their
-- events over April-June 2026, deterministic (no random()).
CREATE TABLE customers AS
SELECT 'c' || lpad(i::text, 3, '0') AS user_id,
       (ARRAY['gold', 'silver', 'bronze'])[1 + i % 3] AS tier,
       DATE '2025-01-01' + (i * 3) AS signup_date
FROM generate_series(1, 200) AS i;

CREATE TABLE web_events AS
SELECT 'c' || lpad((1 + (n * 37) % 200)::text, 3, '0') AS user_id,
       (ARRAY['page_view', 'product_view', 'email_click', 'purchase', 'subscribe'])
         [1 + (n * 7 + n / 11) % 5] AS event_type,
       TIMESTAMP '2026-04-01 00:00:00' + (n * 613 % (91 * 24 * 60)) * INTERVAL '1 minute' AS ts,
       ((n * 13) % 50)::double precision AS value
FROM generate_series(1, 6000) AS n;
