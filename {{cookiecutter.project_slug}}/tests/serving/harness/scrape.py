"""Read a service's /metrics the way Prometheus does, for the metrics tests."""

import requests
from prometheus_client.parser import text_string_to_metric_families

# The families whose every sample only ever grows: a counter's _total, a histogram's
# _bucket, _count and _sum (its observations are durations, never negative).
CUMULATIVE = frozenset({"counter", "histogram"})


def scrape(
    url: str, headers: dict[str, str] | None = None, types: frozenset[str] | None = None
) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of one scrape; fails on anything but 200.

    `types`: only the families of those types (CUMULATIVE, say), else every one.
    """
    response = requests.get(url, headers=headers, timeout=5)
    assert response.status_code == 200, (response.status_code, response.text[:200])
    samples = {}
    for family in text_string_to_metric_families(response.text):
        if types is not None and family.type not in types:
            continue
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict[tuple, float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(
        value for (sample, have), value in samples.items() if sample == name and wanted <= set(have)
    )
