"""Your scheduled command: `python -m {{ cookiecutter.package_name }} manage tick`, run by each platform's
scheduler (docs/scheduled-jobs.md), never by a thread inside the web workers.

The worked example is a timetable: the automation clocks in and out at set times of
day. Each run is one process that reads the timetable, finds the entry due at this
moment, does it unless a run already did, logs one line of what it did and exits 0.
A retried or overlapping run finds the entry claimed and does nothing, so a
platform's retry is harmless; a failure exits 1, so every platform marks the run
failed, and leaves the entry unclaimed for the next run to do.

Two files in DATA_DIR hold its state, since each run is a fresh process:
`automation.json` ({"enabled": false} pauses it; a control API writes it) and
`scheduled/` (a file per entry done, the claim). On a platform whose scheduled runs
get an empty disk each time (all but Kubernetes with a volume, systemd and compose),
keep both in your database instead (docs/scheduled-jobs.md shows how).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

log = logging.getLogger(__name__)

# (time of day, action), in UTC: the platforms' schedulers count in UTC (Cloud
# Scheduler and systemd can use another zone), and UTC has no daylight-saving hour
# that happens twice or never.
TIMETABLE = (("09:00", "clock_in"), ("17:30", "clock_out"))
# Claims older than this are removed by the run that finds them: a week of history.
KEEP_CLAIMS = timedelta(days=7)


def clock_in(slot: str) -> None:
    """Your action: call the API that clocks in. `slot` names this entry once (e.g.
    "2026-12-04T09:00Z clock_in"): send it as that API's idempotency key, so a repeat
    is harmless there too. Raise to fail the run."""


def clock_out(slot: str) -> None:
    """Your action: call the API that clocks out (as clock_in)."""


ACTIONS: dict[str, Callable[[str], None]] = {"clock_in": clock_in, "clock_out": clock_out}


def due_entry(now: datetime) -> tuple[datetime, str] | None:
    """The latest entry of today's timetable at or before `now`, or None before the first."""
    today = now.astimezone(UTC).date()
    due = None
    for time_of_day, action in sorted(TIMETABLE):
        hour, minute = map(int, time_of_day.split(":"))
        at = datetime(today.year, today.month, today.day, hour, minute, tzinfo=UTC)
        if at <= now:
            due = (at, action)
    return due


def automation_enabled(data_dir: Path) -> bool:
    """What the control API last set; on until it says otherwise."""
    try:
        return bool(json.loads((data_dir / "automation.json").read_text())["enabled"])
    except FileNotFoundError:
        return True


def claim(folder: Path, slot: str) -> Path | None:
    """The claim file of `slot`, made now; None when a run made it already. O_EXCL makes
    the check and the claim one step, so two runs at once cannot both get it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / slot.replace(":", "").replace(" ", "_")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o664))
    except FileExistsError:
        return None
    return path


def forget_old_claims(folder: Path, now: datetime) -> None:
    """Remove the claims made more than KEEP_CLAIMS before `now` (the clock's, not --at's)."""
    for path in folder.iterdir():
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        if now - modified > KEEP_CLAIMS:
            path.unlink(missing_ok=True)


@click.command("tick")
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"]),
    default=None,
    help="Act as if it were this moment (e.g. 2026-12-04T09:05+00:00); default: now.",
)
@with_appcontext
def tick_command(at: datetime | None) -> None:
    """Do the timetable's entry that is due, once."""
    now = at.astimezone(UTC) if at else datetime.now(UTC)
    data_dir = Path(current_app.instance_path)
    due = due_entry(now)
    if not automation_enabled(data_dir):
        log.info("tick: automation disabled", extra={"outcome": "disabled"})
        return
    if due is None:
        log.info("tick: nothing due yet today", extra={"outcome": "nothing due"})
        return
    at_time, action = due
    slot = f"{at_time:%Y-%m-%dT%H:%MZ} {action}"
    claims = data_dir / "scheduled"
    claimed = claim(claims, slot)
    if claimed is None:
        log.info("tick: already done", extra={"outcome": "already done", "slot": slot})
        return
    try:
        ACTIONS[action](slot)
    except Exception:
        claimed.unlink(missing_ok=True)  # not done: the next run tries again
        log.exception("tick: %s failed", action, extra={"outcome": "failed", "slot": slot})
        sys.exit(1)
    forget_old_claims(claims, datetime.now(UTC))
    log.info("tick: done", extra={"outcome": "done", "slot": slot, "action": action})
