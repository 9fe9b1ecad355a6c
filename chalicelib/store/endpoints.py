"""botocore's endpoint data, only for the services the functions call.

A botocore session parses `botocore/data/endpoints.json` (1.2 MB: every service in every partition)
before its first client: about as much CPU as `import boto3` itself, on every cold container's first
answer. The functions call three services; `endpoints.json` beside this module is botocore's own
document with only their entries (every partition, region and default kept), and the session the
tables share reads it instead. Regenerate it after a botocore upgrade (tests/test_cold_start.py fails
until then): `.venv/bin/python -m chalicelib.store.endpoints`.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session

# The services of connection.client() and of the tables; another service is added here first.
SERVICES = ("dynamodb", "events", "s3")
PRUNED = Path(__file__).with_name("endpoints.json")
_NAME = "endpoints"


def prune(document: dict[str, Any]) -> dict[str, Any]:
    """botocore's endpoint document with only SERVICES in each partition."""
    partitions = [{**partition, "services": {name: entry for name, entry in partition["services"].items()
                                             if name in SERVICES}}
                  for partition in document["partitions"]]
    return {**document, "partitions": partitions}


@functools.cache
def _pruned() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PRUNED.read_text(encoding="utf-8"))
    return document


class _LeanLoader(botocore.loaders.Loader):  # type: ignore[misc]  # botocore is untyped
    """botocore's data loader, with the session's search paths, for the functions' services only: the
    endpoint document is the pruned one (as built-in data: botocore then resolves endpoints by the
    services' rule sets, as with its own file), and the services it knows are SERVICES, found without
    listing every service's folder of botocore's data (~400 of them, ~6 ms a model type: twice in every
    cold container's first client, for its service model and its endpoint rules)."""

    def load_data_with_path(self, name: str) -> tuple[Any, str]:
        if name != _NAME:
            return super().load_data_with_path(name)  # type: ignore[no-any-return]
        return _pruned(), os.path.join(self.BUILTIN_DATA_PATH, _NAME)

    def list_available_services(self, type_name: str) -> list[str]:
        """Those of SERVICES with a `type_name` document on the search paths, as botocore would list them
        (a few file-system calls: not cached, as botocore's own listing is)."""
        return sorted(name for name in SERVICES if any(
            self.file_loader.exists(os.path.join(path, name, version, type_name))
            for path in self.search_paths if os.path.isdir(os.path.join(path, name))
            for version in os.listdir(os.path.join(path, name))))


def lean(session: botocore.session.Session) -> None:
    """Makes `session` read the pruned endpoint document and know only SERVICES, unless a data path of
    the user's (AWS_DATA_PATH, ~/.aws/models) holds an endpoint document of its own, which botocore would
    read instead. Call it before the session's first client."""
    loader = session.get_component("data_loader")
    for path in loader.search_paths:
        if path != loader.BUILTIN_DATA_PATH and any(
                os.path.isfile(os.path.join(path, f"{_NAME}.json{suffix}")) for suffix in ("", ".gz")):
            return
    defaults = (loader.CUSTOMER_DATA_PATH, loader.BUILTIN_DATA_PATH)
    session.register_component("data_loader", _LeanLoader(
        extra_search_paths=[path for path in loader.search_paths if path not in defaults]))


def _builtin_document() -> dict[str, Any]:
    document: dict[str, Any] = botocore.loaders.Loader().load_data(_NAME)
    return document


if __name__ == "__main__":
    PRUNED.write_text(json.dumps(prune(_builtin_document()), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{PRUNED}: {', '.join(SERVICES)}")
