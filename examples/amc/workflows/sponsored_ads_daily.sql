-- workflow_id: adlake_sponsored_ads_daily
-- description: Daily Sponsored Ads traffic per campaign, for campaigns above a spend floor.
-- window: day
-- lag_days: 2
-- schedule: "30 9 * * *"
-- columns:
--   date: {type: date, required: true}
--   campaign: {type: string, required: true}
--   impressions: bigint
--   clicks: bigint
--   spend: {type: decimal, precision: 18, scale: 4}
-- primary_key: [date, campaign]
-- date_column: date
-- parameters: {min_spend: "0"}
SELECT
  TRUNC('DAY', event_dt) AS date,
  campaign,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  SUM(spend) / 100000000 AS spend
FROM sponsored_ads_traffic
WHERE spend >= CUSTOM_PARAMETER('min_spend')
GROUP BY 1, 2
