"""Figures the fault tests record, printed as one table at the end of the run.

With RELIABILITY_REPORT=path set, the table is also written there (docs/reliability.md
holds the output of a full run).
"""

from dataclasses import dataclass


@dataclass
class Row:
    scenario: str
    worker_class: str
    load: str
    fault: str
    requests: int
    failed: int
    outcome: str


ROWS: list[Row] = []


def record(**fields) -> None:
    ROWS.append(Row(**fields))


def table() -> str:
    lines = [
        "| scenario | worker class | load held | fault injected | requests | failed | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    # By scenario: rows come from several test processes, in the order they ended; a
    # scenario's rows are one test's, in its order (the sort is stable).
    for row in sorted(ROWS, key=lambda row: row.scenario):
        lines.append(
            f"| {row.scenario} | {row.worker_class} | {row.load} | {row.fault} | "
            f"{row.requests} | {row.failed} | {row.outcome} |"
        )
    return "\n".join(lines)
