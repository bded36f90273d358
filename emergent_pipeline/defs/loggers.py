"""The console logger of a run started from the command line: Dagster's lines, without tracebacks.

A failed step's event carries its whole stack trace; on a terminal that buries the one sentence a
user can act on (the command prints it after the run). The traceback stays where it belongs: in the
run's log, which the Dagster UI shows in full.
"""

from __future__ import annotations

import logging
import sys

import dagster as dg

TRACEBACK = "\nStack Trace:"


class WithoutTracebacks(logging.Formatter):
    """Each line as Dagster's console writes it, cut before its stack trace."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s - %(levelname)s - %(message)s", datefmt="%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        cut = text.find(TRACEBACK)
        return text if cut < 0 else text[:cut].rstrip() + " (the traceback is in the run's log, in the Dagster UI)"


@dg.logger({"log_level": dg.Field(str, default_value="INFO", is_required=False)},
           description="Dagster's console lines without stack traces (what `emergent-pipeline run` prints).")
def readable_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("emergent_pipeline.run", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(WithoutTracebacks())
    logger.addHandler(handler)
    return logger


LOGGERS = {"console": dg.colored_console_logger, "readable_console": readable_console}
"""Every job's loggers: Dagster's own console logger (its default, what UI runs use) and the readable one."""
