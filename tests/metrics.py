"""Reading ``GET /metrics`` in tests: the samples as a dict, and the difference an action made.

The values are those of every process writing to this host's ``PROMETHEUS_MULTIPROC_DIR`` (parallel test
processes included), so tests compare before and after, on labels of their own (their portal's ID).
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-test-token"


def scrape(client, token: str = TOKEN) -> dict[tuple[str, frozenset], float]:
    """``{(sample name, frozenset of (label, value)): value}`` of one scrape (which must answer 200)."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content[:500]
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly these labels (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include these (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)
