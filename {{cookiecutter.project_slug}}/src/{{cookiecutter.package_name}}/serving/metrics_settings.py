"""Where the Prometheus metrics are served, and to whom: read and checked at boot.

settings.py calls `load_metrics_settings()` with the rest of the environment, in the
master, before anything binds; a bad value stops the service with one line naming
the variable. Standard library only, like settings.py.

- METRICS_PORT: a second port gunicorn binds (on the main address's host); it answers
  `/metrics` and nothing else. The image sets 9102 (in the exporters' range,
  9100-9999, so a manifest reads it as a metrics port), which no deploy file publishes:
  only what can reach the container's network (a Kubernetes Prometheus, Fly's
  `[metrics]` scraper, a compose service) reads it.
- METRICS_TOKEN (or METRICS_TOKEN_FILE): `/metrics` on the main port too, for a
  request carrying `Authorization: Bearer TOKEN`: platforms with one public port
  (Cloud Run, Heroku, Render, Railway). At least 32 characters: it guards the
  service's traffic figures on the public internet.

Neither set: nothing collects them (nothing could read them) and a request costs
nothing more. docs/metrics.md says who reaches what, per platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import Env

# Where the metrics are answered (metrics.py); tracing.py leaves it untraced.
METRICS_PATH = "/metrics"
# secrets.token_urlsafe(32) is 43 characters; 32 is what a guessing attack over the
# network never reaches, and what settings.Env.secret's hint prints.
TOKEN_MIN_LENGTH = 32


@dataclass(frozen=True)
class MetricsSettings:
    # The second port gunicorn binds for /metrics alone; None: not bound.
    port: int | None
    # The host that port binds on: the main address's (HOST, or BIND's first TCP one).
    host: str | None
    # /metrics on the main port for `Authorization: Bearer TOKEN`; None: 404 there.
    token: str | None = None

    @property
    def enabled(self) -> bool:
        """Collected only where something can read them."""
        return self.port is not None or self.token is not None

    @property
    def address(self) -> str | None:
        return None if self.port is None else f"{self.host}:{self.port}"


def load_metrics_settings(env: Env, bind: tuple[str, ...]) -> MetricsSettings:
    from .settings import SettingsError

    port = env.integer("METRICS_PORT", None, minimum=1, maximum=65535)
    token = env.secret("METRICS_TOKEN", required=False, min_length=TOKEN_MIN_LENGTH)
    if port is None:
        return MetricsSettings(port=None, host=None, token=token)
    tcp = [
        address.rpartition(":") for address in bind if not address.startswith(("unix:", "fd://"))
    ]
    if any(int(taken) == port for _, _, taken in tcp):
        raise SettingsError(
            f"METRICS_PORT={port!r} is not allowed: the service already listens on it "
            "(PORT or BIND); choose another port, e.g. 9102"
        )
    if not tcp:
        raise SettingsError(
            f"METRICS_PORT={port!r} needs a TCP address to share its host with: BIND has "
            "only unix: or fd:// addresses; add HOST:PORT to BIND, or unset METRICS_PORT"
        )
    return MetricsSettings(port=port, host=tcp[0][0], token=token)
