"""Read a service's /metrics the way Prometheus does, for the metrics tests."""

import requests
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of one scrape; fails on anything but 200."""
    response = requests.get(url, headers=headers, timeout=5)
    assert response.status_code == 200, (response.status_code, response.text[:200])
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict[tuple, float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(
        value for (sample, have), value in samples.items() if sample == name and wanted <= set(have)
    )
