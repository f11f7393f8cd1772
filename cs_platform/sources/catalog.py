"""The catalog of every source object the platform ingests.

One entry per raw table. It is the single contract shared by the sample-data
generator (what to produce), the sandbox (what to serve), the loaders (expected
columns, key, cursor, types for validation and schema-drift checks) and the dbt
sources (`dbt/models/staging/_sources.yml` is generated from it by
`python -m cs_platform.sources.dbt_sources`; a test compares the two).

Field names are the source's own. Nested JSON objects from an API are flattened
one level with a double underscore (HubSpot `properties.name` -> `properties__name`,
Freshdesk `custom_fields.cf_account_id` -> `custom_fields__cf_account_id`), the
convention dlt and Fivetran use; lists are stored as JSON text.

Column types are logical: string, integer, float, boolean, date, timestamp, json.
The raw table also carries `_loaded_at` (timestamp) and `_load_id` (the cursor
value or partition key the row came from).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Cross-tool join key: every tool carries the product account id somewhere
# (Salesforce Account.Product_Account_Id__c, HubSpot properties.product_account_id,
# Freshdesk company custom_fields.cf_product_account_id, Airtable fields.AccountId,
# GA4 customEvent:account_id, KARTE account_id).


@dataclass(frozen=True)
class SourceObject:
    tool: str  # product_db | salesforce | hubspot | freshdesk | karte | airtable | google_analytics
    name: str  # raw table name, also the last part of the asset key raw/<tool>/<name>
    api_name: str  # the object's name at the source (SOQL object, table, endpoint)
    primary_key: tuple[str, ...]
    columns: dict[str, str]  # source field name -> logical type, in source order
    cursor: str | None = None  # field used for incremental reads (None: partitioned)
    partition_column: str | None = None  # for time/file partitioned objects
    description: str = ""
    deleted_flag: str | None = None  # column that marks soft deletes (Salesforce IsDeleted)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def asset_key_path(self) -> list[str]:
        return ["raw", self.tool, self.name]

    @property
    def schema(self) -> str:
        """Warehouse schema (BigQuery dataset) the raw table lives in."""
        return f"raw_{self.tool}"

    @property
    def table(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def sends_every_column(self) -> bool:
        """Every load names every column the source has, null or not (see
        COMPLETE_COLUMN_TOOLS): a catalog column missing from a load is schema drift."""
        return self.tool in COMPLETE_COLUMN_TOOLS

    @property
    def partitions_share_keys(self) -> bool:
        """Rows of different partitions (files) can carry the same primary key: the
        partition column is not part of the key (KARTE files; not days, whose date is)."""
        return self.partition_column is not None and self.partition_column not in self.primary_key


LOAD_METADATA_COLUMNS = {"_loaded_at": "timestamp", "_load_id": "string"}

# Tools whose every load names every column the source has, null or not: a CSV header
# (KARTE), the columns of a database query (product DB; a column the table no longer
# has is left out of the select), a SOQL select (Salesforce; a field that is gone fails
# the query). A catalog column missing from their load was renamed or dropped at the
# source, and the dbt models reading it would get nulls: `expected_columns_present`
# fails with ERROR and blocks. The JSON APIs may leave a field out of a record when it
# is null (HubSpot properties, Airtable empty fields, a null parent object flattened
# away), so a column missing from their load may only be all null: there it warns.
COMPLETE_COLUMN_TOOLS = frozenset({"product_db", "karte", "salesforce"})

FEATURE_KEYS = ("session", "dashboards", "reports", "alerts", "integrations", "automation")
# `session` is logged once per active user per day, so its active_users is the account's DAU.
KEY_FEATURES = ("integrations", "automation")
SETUP_STEPS = (
    "invite_users",
    "connect_data_source",
    "create_first_dashboard",
    "configure_alerts",
    "integrate_crm",
    "enable_sso",
)

_OBJECTS = [
    # ---------------------------------------------------------------- product DB
    SourceObject(
        "product_db", "plans", "plans", ("plan_id",),
        {"plan_id": "string", "name": "string", "seat_limit": "integer",
         "monthly_price": "float", "updated_at": "timestamp"},
        cursor="updated_at", description="Price plans and their seat limits."),
    SourceObject(
        "product_db", "accounts", "accounts", ("account_id",),
        {"account_id": "string", "name": "string", "plan_id": "string", "industry": "string",
         "status": "string", "created_at": "timestamp", "updated_at": "timestamp"},
        cursor="updated_at", description="Customer accounts (tenants) in the product."),
    SourceObject(
        "product_db", "users", "users", ("user_id",),
        {"user_id": "string", "account_id": "string", "email": "string", "role": "string",
         "created_at": "timestamp", "last_active_at": "timestamp", "updated_at": "timestamp"},
        cursor="updated_at", description="Product users (seats)."),
    SourceObject(
        "product_db", "feature_usage_daily", "feature_usage_daily",
        ("account_id", "usage_date", "feature_key"),
        {"account_id": "string", "usage_date": "date", "feature_key": "string",
         "active_users": "integer", "event_count": "integer"},
        partition_column="usage_date",
        description="Daily usage per account and feature; feature `session` gives daily active users."),
    SourceObject(
        "product_db", "setup_steps", "setup_steps", ("account_id", "step_key"),
        {"account_id": "string", "step_key": "string", "completed_at": "timestamp",
         "updated_at": "timestamp"},
        cursor="updated_at", description="Onboarding steps per account; completed_at is null until done."),
    # ---------------------------------------------------------------- Salesforce
    SourceObject(
        "salesforce", "user", "User", ("Id",),
        {"Id": "string", "Name": "string", "Email": "string", "Title": "string",
         "ManagerId": "string", "IsActive": "boolean", "SystemModstamp": "timestamp"},
        cursor="SystemModstamp",
        description="Salesforce users: the CSMs who own accounts, and their leads (ManagerId: the user's manager)."),
    SourceObject(
        "salesforce", "account", "Account", ("Id",),
        {"Id": "string", "Name": "string", "OwnerId": "string", "Product_Account_Id__c": "string",
         "Industry": "string", "NumberOfEmployees": "integer",
         "CSM_Impression__c": "string", "CSM_Impression_Date__c": "date",
         "CreatedDate": "timestamp", "SystemModstamp": "timestamp", "IsDeleted": "boolean"},
        cursor="SystemModstamp", deleted_flag="IsDeleted",
        description="Salesforce accounts with owner CSM and the CSM's latest impression "
                    "(Good / Neutral / Concerned / At Risk)."),
    SourceObject(
        "salesforce", "contact", "Contact", ("Id",),
        {"Id": "string", "AccountId": "string", "FirstName": "string", "LastName": "string",
         "Email": "string", "Title": "string", "Is_Champion__c": "boolean",
         "SystemModstamp": "timestamp", "IsDeleted": "boolean"},
        cursor="SystemModstamp", deleted_flag="IsDeleted", description="Customer contacts."),
    SourceObject(
        "salesforce", "opportunity", "Opportunity", ("Id",),
        {"Id": "string", "AccountId": "string", "Name": "string", "Type": "string",
         "StageName": "string", "Amount": "float", "CloseDate": "date", "IsClosed": "boolean",
         "IsWon": "boolean", "SystemModstamp": "timestamp", "IsDeleted": "boolean"},
        cursor="SystemModstamp", deleted_flag="IsDeleted",
        description="Deals: New Business, Renewal, Upsell."),
    SourceObject(
        "salesforce", "contract", "Contract", ("Id",),
        {"Id": "string", "AccountId": "string", "ContractNumber": "string", "Status": "string",
         "StartDate": "date", "EndDate": "date", "ContractTerm": "integer", "ARR__c": "float",
         "Auto_Renew__c": "boolean", "SystemModstamp": "timestamp", "IsDeleted": "boolean"},
        cursor="SystemModstamp", deleted_flag="IsDeleted",
        description="Annual auto-renewing contracts; the current one's EndDate is the renewal date."),
    SourceObject(
        "salesforce", "task", "Task", ("Id",),
        {"Id": "string", "AccountId": "string", "WhatId": "string", "OwnerId": "string",
         "Subject": "string", "Type": "string", "Status": "string", "Priority": "string",
         "ActivityDate": "date", "Description": "string", "CS_External_Id__c": "string",
         "CreatedDate": "timestamp", "SystemModstamp": "timestamp", "IsDeleted": "boolean"},
        cursor="SystemModstamp", deleted_flag="IsDeleted", description="CSM to-dos and logged calls."),
    SourceObject(
        "salesforce", "event", "Event", ("Id",),
        {"Id": "string", "AccountId": "string", "WhatId": "string", "OwnerId": "string",
         "Subject": "string", "Type": "string", "StartDateTime": "timestamp",
         "EndDateTime": "timestamp", "SystemModstamp": "timestamp", "IsDeleted": "boolean"},
        cursor="SystemModstamp", deleted_flag="IsDeleted", description="Meetings with customers."),
    # ---------------------------------------------------------------- HubSpot
    SourceObject(
        "hubspot", "companies", "companies", ("id",),
        {"id": "string", "properties__name": "string", "properties__domain": "string",
         "properties__product_account_id": "string", "properties__lifecyclestage": "string",
         "properties__hs_lastmodifieddate": "timestamp", "createdAt": "timestamp",
         "updatedAt": "timestamp", "archived": "boolean"},
        cursor="updatedAt", description="HubSpot companies."),
    SourceObject(
        "hubspot", "contacts", "contacts", ("id",),
        {"id": "string", "properties__email": "string", "properties__firstname": "string",
         "properties__lastname": "string", "properties__jobtitle": "string",
         "properties__associatedcompanyid": "string", "properties__hs_lastmodifieddate": "timestamp",
         "createdAt": "timestamp", "updatedAt": "timestamp", "archived": "boolean"},
        cursor="updatedAt", description="HubSpot contacts."),
    SourceObject(
        "hubspot", "email_events", "email/public/v1/events", ("id",),
        {"id": "string", "type": "string", "created": "timestamp", "recipient": "string",
         "emailCampaignId": "integer", "portalId": "integer"},
        cursor="created",
        description="Marketing email events (SENT, DELIVERED, OPEN, CLICK, BOUNCE, UNSUBSCRIBED); "
                    "`created` is epoch milliseconds on the wire."),
    # ---------------------------------------------------------------- Freshdesk
    SourceObject(
        "freshdesk", "companies", "companies", ("id",),
        {"id": "integer", "name": "string", "custom_fields__cf_product_account_id": "string",
         "created_at": "timestamp", "updated_at": "timestamp"},
        cursor="updated_at", description="Freshdesk companies, linked to product accounts."),
    SourceObject(
        "freshdesk", "tickets", "tickets", ("id",),
        {"id": "integer", "company_id": "integer", "requester_id": "integer", "subject": "string",
         "type": "string", "status": "integer", "priority": "integer", "tags": "json",
         "created_at": "timestamp", "updated_at": "timestamp", "due_by": "timestamp",
         "fr_due_by": "timestamp"},
        cursor="updated_at",
        description="Support tickets. status 2 Open, 3 Pending, 4 Resolved, 5 Closed; "
                    "priority 1 Low .. 4 Urgent; tag `escalation` marks escalations."),
    SourceObject(
        "freshdesk", "satisfaction_ratings", "surveys/satisfaction_ratings", ("id",),
        {"id": "integer", "survey_id": "integer", "ticket_id": "integer", "user_id": "integer",
         "ratings__default_question": "integer", "feedback": "string",
         "created_at": "timestamp", "updated_at": "timestamp"},
        cursor="updated_at",
        description="CSAT answers; ratings.default_question is 103 happy, 100 neutral, -103 unhappy."),
    # ---------------------------------------------------------------- KARTE exports
    SourceObject(
        "karte", "nps_responses", "nps_responses", ("response_id",),
        {"response_id": "string", "account_id": "string", "user_id": "string", "score": "integer",
         "comment": "string", "responded_at": "timestamp"},
        partition_column="_load_id",
        description="NPS survey answers (0-10), one CSV export file per drop."),
    SourceObject(
        "karte", "tour_views", "tour_views", ("event_id",),
        {"event_id": "string", "account_id": "string", "user_id": "string", "tour_id": "string",
         "step": "integer", "completed": "boolean", "viewed_at": "timestamp"},
        partition_column="_load_id",
        description="In-product tour views, one CSV export file per drop."),
    # ---------------------------------------------------------------- Airtable
    SourceObject(
        "airtable", "feature_requests", "Feature Requests", ("id",),
        {"id": "string", "createdTime": "timestamp", "fields__Title": "string",
         "fields__AccountId": "string", "fields__Category": "string", "fields__Status": "string",
         "fields__Priority": "string", "fields__Votes": "integer", "fields__RequestedAt": "date"},
        description="Feature requests logged by CSMs (full refresh: the API has no modified filter)."),
    # ---------------------------------------------------------------- GA4
    SourceObject(
        "google_analytics", "page_views_daily", "runReport",
        ("date", "customEvent_account_id", "hostName"),
        {"date": "date", "customEvent_account_id": "string", "hostName": "string",
         "screenPageViews": "integer", "sessions": "integer", "activeUsers": "integer"},
        partition_column="date",
        description="Help-site and product page views per account and day "
                    "(dimension customEvent:account_id; hostName help.example.com or app.example.com)."),
]

# One line per tool: the description of its dbt source `raw_<tool>`.
TOOL_DESCRIPTIONS = {
    "product_db": "The product's own database (accounts, users, plans, daily feature usage, onboarding steps).",
    "salesforce": "Salesforce CRM: accounts with their owner CSM, contacts, deals, contracts, CSM tasks and events.",
    "hubspot": "HubSpot marketing: companies, contacts and marketing email events.",
    "freshdesk": "Freshdesk support desk: companies, tickets and CSAT ratings.",
    "karte": "KARTE exports: NPS answers and in-product tour views (CSV drops).",
    "airtable": "Airtable base where CSMs log feature requests.",
    "google_analytics": "GA4: help-site and product page views per account and day.",
}

SOURCE_OBJECTS: dict[tuple[str, str], SourceObject] = {(o.tool, o.name): o for o in _OBJECTS}
TOOLS: tuple[str, ...] = tuple(dict.fromkeys(o.tool for o in _OBJECTS))


def get(tool: str, name: str) -> SourceObject:
    try:
        return SOURCE_OBJECTS[(tool, name)]
    except KeyError:
        raise KeyError(f"unknown source object {tool}/{name}; known: "
                       f"{sorted('/'.join(k) for k in SOURCE_OBJECTS)}") from None


def objects_of(tool: str) -> list[SourceObject]:
    return [o for o in _OBJECTS if o.tool == tool]
