-- Click-through and conversion per mode and variant over every retained impression.
CREATE OR REPLACE VIEW rec.online_ctr AS
SELECT mode, variant, count(*) AS impressions,
       count(*) FILTER (WHERE clicked) AS clicked,
       count(*) FILTER (WHERE converted) AS converted,
       (count(*) FILTER (WHERE clicked))::float8 / count(*) AS ctr,
       (count(*) FILTER (WHERE converted))::float8 / count(*) AS conversion_rate
FROM rec.impression_outcomes
GROUP BY mode, variant;
