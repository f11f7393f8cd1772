-- The weights of each score's components must sum to 1 (to a rounding tolerance),
-- or scores would not span 0-100. Returns each score whose weights do not.
-- Blocking: no score is computed from a mis-edited seed.
{{ config(severity='error') }}

select
    score_name,
    sum(weight) as weight_total
from {{ ref('health_score_components') }}
group by score_name
having abs(sum(weight) - 1.0) > 0.001
