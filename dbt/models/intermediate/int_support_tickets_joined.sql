-- Freshdesk tickets with the product account they belong to (via the Freshdesk
-- company's product account id) and the day they opened and closed.
with tickets as (
    select * from {{ ref('stg_freshdesk__tickets') }}
),

companies as (
    select * from {{ ref('stg_freshdesk__companies') }}
)

select
    tickets.ticket_id,
    companies.account_id,
    tickets.freshdesk_company_id,
    tickets.subject,
    tickets.ticket_type,
    tickets.ticket_status,
    tickets.is_open,
    tickets.priority,
    tickets.is_escalation,
    tickets.created_at,
    cast(tickets.created_at as date) as created_date,
    -- The list API has no resolution time: the last update of a resolved or closed
    -- ticket is taken as the day it closed.
    case when not tickets.is_open then cast(tickets.updated_at as date) end as closed_date,
    tickets.due_at
from tickets
inner join companies
    on tickets.freshdesk_company_id = companies.freshdesk_company_id
where companies.account_id is not null
