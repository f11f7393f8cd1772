-- One row per past renewal decision: every contract that ended before the as-of
-- date (within backtest_lookback_days), and what the customer did when it came up
-- for renewal. The ground truth the score lab (score_backtest, score_surprises)
-- holds the scores against.
--   renewed:    a next contract starts around the end date at the same ARR or more,
--               or a Renewal opportunity around the end date was won;
--   downgraded: the next contract has a lower ARR;
--   churned:    no next contract, and a Renewal opportunity around the end date was
--               lost, or the product account is churned, or the contract lapsed
--               more than renewal_grace_days ago.
-- Ended contracts with none of these (just ended, renewal still being worked) are
-- left out: their decision is not known yet.
with accounts as (
    select * from {{ ref('int_accounts_mapped') }}
),

contracts as (
    select
        contracts.*,
        accounts.account_id
    from {{ ref('stg_salesforce__contracts') }} as contracts
    inner join accounts
        on contracts.salesforce_account_id = accounts.salesforce_account_id
    where coalesce(contracts.contract_status, '') <> 'Draft'
),

ended as (
    select * from contracts
    where end_date < {{ as_of_date() }}
      and end_date >= {{ add_days(as_of_date(), -var('backtest_lookback_days')) }}
),

-- The contract that follows an ended one: the earliest starting within the grace
-- period around its end (contracts are back to back; a late signature still counts).
successors as (
    select
        ended.contract_id as ended_contract_id,
        next_contract.contract_id,
        next_contract.arr,
        row_number() over (
            partition by ended.contract_id order by next_contract.start_date, next_contract.contract_id
        ) as rank_in_successors
    from ended
    inner join contracts as next_contract
        on ended.account_id = next_contract.account_id
        and next_contract.start_date > ended.start_date
        and next_contract.start_date
            between {{ add_days('ended.end_date', -var('renewal_grace_days')) }}
            and {{ add_days('ended.end_date', var('renewal_grace_days')) }}
),

-- The closed Renewal opportunity of an ended contract: closed within the grace
-- period around its end date; the latest one when there are several.
renewal_opportunities as (
    select
        ended.contract_id as ended_contract_id,
        opportunities.opportunity_id,
        opportunities.stage_name,
        opportunities.is_won,
        row_number() over (
            partition by ended.contract_id order by opportunities.close_date desc, opportunities.opportunity_id
        ) as recency
    from ended
    inner join {{ ref('stg_salesforce__opportunities') }} as opportunities
        on ended.salesforce_account_id = opportunities.salesforce_account_id
        and opportunities.opportunity_type = 'Renewal'
        and opportunities.is_closed
        and opportunities.close_date
            between {{ add_days('ended.end_date', -var('renewal_grace_days')) }}
            and {{ add_days('ended.end_date', var('renewal_grace_days')) }}
),

decided as (
    select
        ended.account_id,
        ended.salesforce_account_id,
        ended.contract_id,
        ended.end_date as renewal_date,
        ended.arr as arr_before,
        successors.contract_id as next_contract_id,
        successors.arr as arr_after,
        renewal_opportunities.opportunity_id as renewal_opportunity_id,
        renewal_opportunities.stage_name as renewal_opportunity_stage,
        accounts.account_status,
        case
            when successors.contract_id is not null and successors.arr < ended.arr then 'downgraded'
            when successors.contract_id is not null then 'renewed'
            when renewal_opportunities.is_won then 'renewed'
            when renewal_opportunities.opportunity_id is not null then 'churned'
            when accounts.account_status = 'churned' then 'churned'
            when ended.end_date < {{ add_days(as_of_date(), -var('renewal_grace_days')) }} then 'churned'
        end as outcome
    from ended
    inner join accounts
        on ended.account_id = accounts.account_id
    left join successors
        on ended.contract_id = successors.ended_contract_id and successors.rank_in_successors = 1
    left join renewal_opportunities
        on ended.contract_id = renewal_opportunities.ended_contract_id and renewal_opportunities.recency = 1
)

select
    account_id,
    salesforce_account_id,
    contract_id,
    renewal_date,
    outcome,
    outcome = 'churned' as is_churned,
    arr_before,
    arr_after,
    next_contract_id,
    renewal_opportunity_id,
    renewal_opportunity_stage,
    account_status
from decided
where outcome is not null
