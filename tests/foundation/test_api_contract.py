"""The API answers as its OpenAPI document says: schemathesis generates requests for every
operation from ``/openapi.json`` of a real ``wi serve`` (admin token) and runs all of its
checks on every answer: no server error, every status code and body documented, bad
input refused, valid input accepted, ``OPTIONS``/405 with the right ``Allow``; then it
walks the document's links statefully (create a server, read it, change it, delete it).

The suite runs a bounded smoke size with fixed seeds; ``dev/api-fuzz`` runs the same
checks much longer (see README, Development).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import engine
from schemathesis.engine import events

from tests.conftest import make_settings
from tests.servers.live_wi import FAST_HASHER, LiveWI, serve_wi

#: Cases per operation and phase; dev/api-fuzz raises it through the environment.
EXAMPLES = int(os.environ.get("WI_API_FUZZ_EXAMPLES", "8"))
#: Steps of the stateful walk.
STATEFUL_EXAMPLES = int(os.environ.get("WI_API_FUZZ_STATEFUL", "10"))
SEED = int(os.environ.get("WI_API_FUZZ_SEED", "20261202"))

CONFIG = Path(__file__).parent / "schemathesis.toml"


@pytest.fixture(scope="module")
def contract_wi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveWI]:
    """A WI of its own: the fuzzer creates, changes and deletes whatever it likes."""
    settings = make_settings(tmp_path_factory.mktemp("contract") / "data")
    with serve_wi(settings, password_hasher=FAST_HASHER) as live:
        yield live


@pytest.fixture(scope="module")
def api_schema(contract_wi: LiveWI) -> Any:
    """WI's OpenAPI document, read over HTTP with the admin token, checked by our config."""
    config = schemathesis.Config.from_path(CONFIG)
    config.update(seed=SEED, max_failures=None)  # every finding, not the first
    config.projects.default.update(
        headers={"Authorization": f"Bearer {contract_wi.admin_token}"},
        base_url=contract_wi.url,
    )
    config.projects.default.generation.update(max_examples=EXAMPLES)
    return schemathesis.openapi.from_url(
        f"{contract_wi.url}/openapi.json",
        config=config,
        headers={"Authorization": f"Bearer {contract_wi.admin_token}"},
    )


def _findings(schema: Any) -> tuple[list[str], list[str], set[str]]:
    """Run every phase of schemathesis' engine (what ``schemathesis run`` does) on
    ``schema``: the failed checks, the engine's errors, and the operations tested."""
    findings: list[str] = []
    errors: list[str] = []
    tested: set[str] = set()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            tested.add(event.recorder.label)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        findings.append(f"{event.recorder.label} [{failure.code}] "
                                        f"{failure.title}: {failure.message[:300]}\n"
                                        f"{check.failure_info.code_sample[:600]}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(str(getattr(event, "value", None) or event.exception))
        elif isinstance(event, events.EngineFinished):
            errors.extend(str(f) for f in event.failures)
    return sorted(set(findings)), errors, tested


def test_every_operation_answers_as_documented(api_schema: Any) -> None:
    findings, errors, tested = _findings(api_schema)
    report = os.environ.get("WI_API_FUZZ_REPORT")
    if report:
        Path(report).write_text("\n\n".join(findings + errors), encoding="utf-8")
    assert errors == []
    assert findings == [], f"{len(findings)} findings:\n" + "\n".join(findings)
    documented = {f"{op.method.upper()} {op.path}"
                  for op in (r.ok() for r in api_schema.get_all_operations())}
    assert documented <= {label.split(" -> ")[-1] for label in tested} | tested
