-- One row per product account with its ids in every tool and its owner CSM.
-- The product account id is the cross-tool key; when a tool holds two records for
-- the same account, the most recently changed one wins.
-- lifecycle_status says whether the account is still one a CS team works:
-- `churned` when the product DB says so, `deleted_in_crm` when its Salesforce
-- Account was deleted (no live record left for it), else `active`. The
-- active marts (renewal list, books, segments, activation) keep `active` only.
with accounts as (
    select * from {{ ref('stg_product_db__accounts') }}
),

salesforce_ranked as (
    select
        *,
        -- A live record before a deleted one: a deleted account keeps its Salesforce
        -- id and owner (its contracts and history still join), flagged deleted_in_crm.
        row_number() over (
            partition by account_id
            order by case when is_deleted then 1 else 0 end, system_modstamp desc, salesforce_account_id
        ) as recency
    from {{ ref('stg_salesforce__accounts') }}
    where account_id is not null
),

hubspot_ranked as (
    select
        *,
        row_number() over (partition by account_id order by updated_at desc, hubspot_company_id) as recency
    from {{ ref('stg_hubspot__companies') }}
    where account_id is not null
),

freshdesk_ranked as (
    select
        *,
        row_number() over (partition by account_id order by updated_at desc, freshdesk_company_id) as recency
    from {{ ref('stg_freshdesk__companies') }}
    where account_id is not null
),

plans as (
    select * from {{ ref('stg_product_db__plans') }}
),

owners as (
    select * from {{ ref('stg_salesforce__users') }}
)

select
    accounts.account_id,
    accounts.account_name,
    accounts.industry,
    accounts.account_status,
    case
        when lower(accounts.account_status) = 'churned' then 'churned'
        when salesforce.is_deleted then 'deleted_in_crm'
        else 'active'
    end as lifecycle_status,
    accounts.plan_id,
    plans.plan_name,
    plans.seat_limit,
    plans.monthly_price,
    accounts.created_at,
    cast(accounts.created_at as date) as created_date,
    salesforce.salesforce_account_id,
    salesforce.owner_user_id,
    owners.user_name as owner_name,
    owners.email as owner_email,
    salesforce.number_of_employees,
    salesforce.csm_impression,
    salesforce.csm_impression_date,
    hubspot.hubspot_company_id,
    freshdesk.freshdesk_company_id
from accounts
left join plans
    on accounts.plan_id = plans.plan_id
left join salesforce_ranked as salesforce
    on accounts.account_id = salesforce.account_id and salesforce.recency = 1
left join owners
    on salesforce.owner_user_id = owners.salesforce_user_id
left join hubspot_ranked as hubspot
    on accounts.account_id = hubspot.account_id and hubspot.recency = 1
left join freshdesk_ranked as freshdesk
    on accounts.account_id = freshdesk.account_id and freshdesk.recency = 1
