-- workflow_id: adlake_campaign_daily
-- description: Daily impressions, clicks and spend per campaign from AMC's DSP impressions.
-- window: day
-- lag_days: 2
-- schedule: "0 9 * * *"
-- columns:
--   date: {type: date, required: true}
--   campaign: {type: string, required: true}
--   impressions: bigint
--   clicks: bigint
--   spend: {type: decimal, precision: 18, scale: 4}
-- primary_key: [date, campaign]
-- date_column: date
SELECT
  TRUNC('DAY', impression_dt) AS date,  -- one row per day and campaign
  campaign,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  SUM(total_cost) / 100000 AS spend
FROM dsp_impressions
GROUP BY 1, 2
