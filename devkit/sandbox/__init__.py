"""Local emulators of the SaaS APIs the platform talks to (Salesforce, HubSpot,
Freshdesk, Airtable, GA4, Slack): real HTTP(S) servers speaking each vendor's wire
format over the generated sample data, recording writes and injecting faults.

Python: `Sandbox(data_dir).start()` / `with Sandbox(...) as sandbox:`; CLI:
`python -m devkit.sandbox --data data/sample --state data/sandbox`.
"""

from .service import APIS, CREDENTIALS, DEFAULT_PORTS, SLACK_WEBHOOK_PATH, Sandbox

__all__ = ["APIS", "CREDENTIALS", "DEFAULT_PORTS", "SLACK_WEBHOOK_PATH", "Sandbox"]
