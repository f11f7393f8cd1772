{#
  report_url(account_id): the account's report page (report/<name> assets write
  them), as the CRM syncs link it (CS_Report_URL__c) and the plays' messages do.
  The base is the var `report_base_url`, else REPORT_BASE_URL, else the local
  report server (devkit/report_server.py, port 3100: not the Dagster UI's 3000).
#}
{% macro report_url(account_id) -%}
    '{{ var("report_base_url", env_var("REPORT_BASE_URL", "http://127.0.0.1:3100/reports")) | replace("'", "''") }}/'
        || {{ account_id }} || '.html'
{%- endmacro %}
