"""Two costs of the in-process AWS that say nothing about our code, removed for the test suite only
(results are the same; `make run` and `make bench` are unchanged).

1. botocore builds a data loader per session, and each loader parses endpoints.json (~1 MB) and the
   service models again. pynamodb opens a session per model, and every test starts with none, so
   that was most of a test's setup. Here every session gets one shared loader per data path, as the
   clients of one session already share theirs (boto3 adds its resource folder to it once).

2. For every request, moto lists the methods of its response class again (`inspect.getmembers`) to
   find the action's handler: 4 % of the OpenAPI fuzz. The list is the class's, kept per class.

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


def cached_action_names() -> None:
    """Point 2 of the module's text."""
    import moto.core.responses

    if getattr(moto.core.responses.method_names_from_class, "_cached", False):
        return
    cached = functools.cache(moto.core.responses.method_names_from_class)
    cached._cached = True  # type: ignore[attr-defined]
    moto.core.responses.method_names_from_class = cached
