"""What a large app loads as it starts, simulated: a model of about 100 MiB that takes a
second to load. Every worker holds its own, so the serving tests meet workers of the
size and start-up time of a real app, not the starter's."""

from __future__ import annotations

import time

from flask import Flask

MIB = 1024 * 1024
SIZE = 100 * MIB
LOAD_SECONDS = 1.0


def load(app: Flask) -> None:
    time.sleep(LOAD_SECONDS)
    # Multiplied, not bytearray(SIZE): every page is written, so it is resident memory.
    app.extensions["notes_model"] = bytearray(b"\x01") * SIZE
