"""A cost of the in-process AWS that says nothing about our code, removed for the test suite only
(results are the same; `make run` and `make bench` are unchanged): botocore builds a data loader per
session, and each loader parses endpoints.json (~1 MB) and the service models again. pynamodb opens
a session per model, and every test starts with none, so that was most of a test's setup. Here every
session gets one shared loader per data path, as the clients of one session already share theirs
(boto3 adds its resource folder to it once).

The serializer, counter and Query fast paths serve the local stack too: local/fast_moto.py.
"""

from __future__ import annotations

import functools


def share_botocore_loader() -> None:
    import botocore.loaders
    import botocore.session

    if getattr(botocore.session.create_loader, "_shared", False):
        return

    class OncePaths(list[str]):
        def append(self, path: str) -> None:  # boto3.Session appends its data folder every time
            if path not in self:
                super().append(path)

    @functools.cache
    def shared_loader(data_path: str | None) -> botocore.loaders.Loader:
        loader = botocore.loaders.create_loader(data_path)
        loader._search_paths = OncePaths(loader._search_paths)
        return loader

    shared_loader._shared = True  # type: ignore[attr-defined]
    botocore.session.create_loader = shared_loader
