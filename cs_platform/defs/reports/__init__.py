"""report/<name>: static HTML pages generated from the marts (cs_platform/reports).

    report/account_pages  one internal page per account (linked from Salesforce,
                          CS_Report_URL__c) and a customer-facing variant for meetings
    report/renewals       the renewal board: the renewal list by month, sortable
    report/portfolio      the whole customer base at a glance

They read the warehouse, so they take a slot in the warehouse pool (a DuckDB file
being written cannot be opened by another process), and run after the marts they
read are rebuilt with their blocking checks passed (reports_automation_sensor, on
by default: account pages only re-render the accounts whose data changed).
"""
