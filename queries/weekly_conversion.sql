-- Weekly funnel and stage-to-stage conversion per region.
-- Run: ctxmetrics query weekly_conversion   (add --csv or --json for a file)
select
    date_trunc('week', ts)::date as week,
    region,
    sum(value) filter (where metric = 'leads') as leads,
    sum(value) filter (where metric = 'mql') as mql,
    sum(value) filter (where metric = 'sql') as sql,
    sum(value) filter (where metric = 'opportunities') as opportunities,
    sum(value) filter (where metric = 'won') as won,
    round(sum(value) filter (where metric = 'mql')
          / nullif(sum(value) filter (where metric = 'leads'), 0), 3) as lead_to_mql,
    round(sum(value) filter (where metric = 'won')
          / nullif(sum(value) filter (where metric = 'opportunities'), 0), 3) as win_rate
from observations
group by all
order by week, region
