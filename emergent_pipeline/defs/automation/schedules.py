"""The daily refresh, on weekdays after the close.

Cron and timezone come from the environment so that a user of another market sets their own
(NSE: `EMERGENT_PIPELINE_SCHEDULE_CRON="0 17 * * 1-5"`, `EMERGENT_PIPELINE_SCHEDULE_TIMEZONE=Asia/Kolkata`).
The schedule starts STOPPED: the default source is the bundled 2013-2018 panel, which never changes,
so there is nothing to refresh until a live source is configured; switch it on in the UI
(Automation → daily_refresh_schedule) or with `EMERGENT_PIPELINE_SCHEDULE_RUNNING=1`.
"""

import os

import dagster as dg

from emergent_pipeline.defs.automation.jobs import daily_refresh

DEFAULT_CRON = "30 17 * * 1-5"  # 17:30, an hour and a half after the US close, Monday to Friday
DEFAULT_TIMEZONE = "America/New_York"

daily_refresh_schedule = dg.ScheduleDefinition(
    name="daily_refresh_schedule",
    job=daily_refresh,
    cron_schedule=os.environ.get("EMERGENT_PIPELINE_SCHEDULE_CRON", DEFAULT_CRON),
    execution_timezone=os.environ.get("EMERGENT_PIPELINE_SCHEDULE_TIMEZONE", DEFAULT_TIMEZONE),
    default_status=dg.DefaultScheduleStatus.RUNNING
    if os.environ.get("EMERGENT_PIPELINE_SCHEDULE_RUNNING") == "1"
    else dg.DefaultScheduleStatus.STOPPED,
    description="Refresh prices, signals, scores, outcomes and the summary after each trading day.",
)
