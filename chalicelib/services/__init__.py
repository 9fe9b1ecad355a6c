"""Use cases: each takes parsed input and the caller, applies domain rules, and uses the store.
Handlers call exactly one of these; nothing here knows about HTTP or event shapes."""
