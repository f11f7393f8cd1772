-- One row per product account: the contract in force on the as-of date (else the
-- latest one that started), its renewal date and ARR, and how long the customer has
-- been one. Contracts are annual and auto-renewing; the current one's end date is
-- the renewal date.
with contracts as (
    select
        contracts.*,
        accounts.account_id
    from {{ ref('stg_salesforce__contracts') }} as contracts
    inner join {{ ref('int_accounts_mapped') }} as accounts
        on contracts.salesforce_account_id = accounts.salesforce_account_id
    where contracts.start_date <= {{ as_of_date() }}
      and coalesce(contracts.contract_status, '') <> 'Draft'
),

ranked as (
    select
        *,
        row_number() over (
            partition by account_id
            -- in force today first, then the most recent start
            order by
                case when end_date >= {{ as_of_date() }} then 0 else 1 end,
                start_date desc,
                contract_id
        ) as recency,
        min(start_date) over (partition by account_id) as customer_since_date,
        count(*) over (partition by account_id) as contract_count
    from contracts
)

select
    account_id,
    salesforce_account_id,
    contract_id as current_contract_id,
    contract_number as current_contract_number,
    contract_status,
    start_date as contract_start_date,
    end_date as renewal_date,
    contract_term_months,
    arr,
    is_auto_renew,
    customer_since_date,
    contract_count,
    end_date >= {{ as_of_date() }} as is_contract_active
from ranked
where recency = 1
