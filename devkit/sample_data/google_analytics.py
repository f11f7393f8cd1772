"""GA4 runReport rows by date, customEvent:account_id and hostName, flattened.

The product site's traffic follows the account's daily active users (a share of
them are not tracked); help-site visits are rarer and follow usage too, so they
fall when an account's usage falls.
"""

from __future__ import annotations

import numpy as np

from devkit.sample_data import wire
from devkit.sample_data.chunk import Chunk
from devkit.sample_data.customers import CustomerBase

APP, HELP = "app.example.com", "help.example.com"
TRACKED = 0.85  # share of active users that analytics sees (consent, blockers)
HELP_VISITORS_PER_DAU = 0.06


class GoogleAnalyticsWriter:
    def __init__(self, outputs: wire.Outputs, base: CustomerBase):
        self._base = base
        self._file = outputs.jsonl("google_analytics/page_views_daily", "google_analytics/page_views_daily.jsonl")
        window = base.window
        self._dates = wire.ga_dates(np.arange(window.start_day, window.end_day))

    def write(self, chunk: Chunk) -> None:
        rng = chunk.rng("google_analytics")
        dau = chunk.usage.dau
        visitors = np.stack([rng.binomial(dau, TRACKED), rng.poisson(HELP_VISITORS_PER_DAU * dau)], axis=-1)
        sessions = visitors + rng.poisson(visitors * np.array([0.6, 0.2]))
        views = sessions + rng.poisson(sessions * np.array([5.0, 2.0]))
        c, d, h = np.nonzero(visitors)  # account, date, host: the report's sort order
        account_ids, hosts, dates = self._base.account_ids, (APP, HELP), self._dates
        self._file.write([
            {"date": dates[dd], "customEvent_account_id": account_ids[chunk.lo + cc], "hostName": hosts[hh],
             "screenPageViews": v, "sessions": s, "activeUsers": u}
            for cc, dd, hh, v, s, u in zip(c.tolist(), d.tolist(), h.tolist(), views[c, d, h].tolist(),
                                           sessions[c, d, h].tolist(), visitors[c, d, h].tolist())])
