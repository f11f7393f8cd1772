{#
  report_url(account_id): the account's report page (report/<name> assets write
  them), as the CRM syncs link it (CS_Report_URL__c) and the plays' messages do.
  The base is the var `report_base_url`, else REPORT_BASE_URL, else the local
  report server.
#}
{% macro report_url(account_id) -%}
    '{{ var("report_base_url", env_var("REPORT_BASE_URL", "http://127.0.0.1:3000/reports")) | replace("'", "''") }}/'
        || {{ account_id }} || '.html'
{%- endmacro %}
