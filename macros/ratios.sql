-- Engagement ratios. A ratio with no denominator is unknown (NULL), never a division error.
CREATE FUNCTION safe_ratio(num, den) RETURN CASE WHEN den IS NULL OR den = 0 THEN NULL ELSE CAST(num AS DOUBLE) / den END;

-- A ratio as a percentage rounded to two decimals (a macro calling a macro).
CREATE FUNCTION pct(num, den) RETURN ROUND(100 * safe_ratio(num, den), 2);
