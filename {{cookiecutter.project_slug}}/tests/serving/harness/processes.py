"""Inspect a gunicorn master's workers and its listening socket through /proc (Linux)."""

from pathlib import Path


def worker_pids(master_pid: int) -> set[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    try:
        return {int(pid) for pid in children.read_text().split()}
    except OSError:
        return set()


def accept_queue_length(port: int) -> int | None:
    """Connections waiting in the kernel's accept queue of 127.0.0.1:port, if listening."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":  # 0A: LISTEN
            return int(fields[4].split(":")[1], 16)  # rx_queue: pending connections
    return None
