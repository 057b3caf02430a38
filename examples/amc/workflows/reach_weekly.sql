-- workflow_id: adlake_reach_weekly
-- description: Reach per campaign over each calendar week (Monday to Sunday).
-- window: week
-- lag_days: 2
-- schedule: "0 10 * * 2"
-- columns:
--   date: {type: date, required: true}
--   campaign: {type: string, required: true}
--   impressions: bigint
--   clicks: bigint
--   spend: {type: decimal, precision: 18, scale: 4}
-- primary_key: [date, campaign]
-- date_column: date
SELECT
  TRUNC('DAY', impression_dt) AS date,
  campaign,
  COUNT(DISTINCT user_id) AS impressions,  -- 'impressions' holds reach here
  SUM(clicks) AS clicks,
  SUM(total_cost) / 100000 AS spend
FROM dsp_impressions
GROUP BY 1, 2
