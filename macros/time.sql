-- The instant features are computed at: midnight UTC starting the as-of date. Every feature
-- reads only events strictly before it; the label reads only events at or after it.
CREATE FUNCTION as_of_ts() RETURN CAST(var('as_of_date') AS TIMESTAMP);

-- Minutes from one timestamp to a later one, with microsecond precision (a DOUBLE on every
-- engine: Spark would make 60000000.0 a DECIMAL).
CREATE FUNCTION minutes_between(earlier, later) RETURN CAST(unix_micros(later) - unix_micros(earlier) AS DOUBLE) / 60000000;

-- The end (exclusive) of the label window: label_window_days after the as-of date.
CREATE FUNCTION label_end_ts() RETURN CAST(date_add(CAST(var('as_of_date') AS DATE), var('label_window_days')) AS TIMESTAMP);
