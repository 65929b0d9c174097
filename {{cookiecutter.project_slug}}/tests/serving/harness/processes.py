"""Inspect a gunicorn master's workers and its listening socket through /proc (Linux)."""

from pathlib import Path


def worker_pids(master_pid: int) -> set[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    try:
        return {int(pid) for pid in children.read_text().split()}
    except OSError:
        return set()


def _sockets(port: int):
    """(state, peer, rx_queue) of each TCP socket whose own address is 127.0.0.1:port."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted:
            yield fields[3], fields[2], int(fields[4].split(":")[1], 16)


def accept_queue_length(port: int) -> int | None:
    """Connections waiting in the kernel's accept queues of 127.0.0.1:port, if listening.

    Every listener counts: with a listening socket per worker (reuse_port) each has
    its own queue.
    """
    queues = [rx_queue for state, _, rx_queue in _sockets(port) if state == "0A"]  # LISTEN
    return sum(queues) if queues else None


def peers_of(port: int) -> set[str]:
    """The clients (address:port) with an established connection to 127.0.0.1:port,
    accepted or still in a queue."""
    return {peer for state, peer, _ in _sockets(port) if state == "01"}  # ESTABLISHED
