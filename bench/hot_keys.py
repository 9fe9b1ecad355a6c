"""Hot keys under live traffic: the most-written single item (and index partition) at 1,000 leads/s.

Running 60,000 leads through moto (60 s of event time at 1,000 leads/s) would take most of an
hour here, so a sample of N leads (300) runs through the real path instead: bench/capture_cost.py's
`demo` and `assigned` mixes (in `make bench`, the very runs that benchmark reports): POST /capture
through API Gateway's event shape, one distinct phone and visitor address per lead, as a day's
traffic spreads them; the lead stream drained by the trigger pump in batches of up to the
function's batch size, 500, as Lambda delivers them. The meter counts every successful write per
item and per index partition (the index's hash key value).
Then, for 1,000 leads/s:

- an item or partition whose key names no lead, phone, visitor, rep or team of the sample is
  shared by all traffic: its writes per second = its writes per sampled lead x 1,000. What a stream
  batch writes once (the dashboard counters) scales the same way at the sample's batch sizes; live
  batches are fuller, so this over-states them;
- a rep's or a team's item: the same, since at 1,000 leads/s every rep of a routed team keeps receiving;
- an item that names a lead, phone or visitor is written by that one lead: at most its sample
  writes within one second (all of a lead's writes happen within a second here).

DynamoDB's limit per partition is 1,000 write units/s (an index partition's too, and a throttled
index slows its table's writes). Target: <= 100 writes/s on any item.
"""

from __future__ import annotations

from typing import Any

RATE = 1_000  # leads per second
TARGET = 100.0


def _owned_by_one_lead(label: str, owned: set[str], people: set[str]) -> bool:
    """Keys naming a lead, phone or visitor (not a rep or team, who share the traffic)."""
    return any(token in label for token in owned - people)


def rates(raw: dict[str, Any], n: int) -> tuple[list[tuple[float, str]], list[tuple[float, str]], int]:
    from local.seed import TEAMS, USERS

    people = set(USERS) | {team[0] for team in TEAMS}
    owned: set[str] = raw["owned"]

    def per_second(counts: dict[str, int]) -> list[tuple[float, str]]:
        out = []
        for label, count in counts.items():
            rate = float(count) if _owned_by_one_lead(label, owned, people) else count / n * RATE
            out.append((rate, label))
        return sorted(out, reverse=True)

    return per_second(raw["item_writes"]), per_second(raw["partition_writes"]), sum(raw["item_writes"].values())


def run(n: int = 300, verbose: bool = True, mixes: tuple[str, ...] = ("demo", "assigned")) -> dict[str, float]:
    from bench.capture_cost import measured

    figures: dict[str, float] = {}
    for mix in mixes:
        raw = measured(n, mix)  # the run bench/capture_cost.py made of this mix in this process, if any
        items, partitions, total = rates(raw, n)
        suffix = "" if mix == "demo" else f"_{mix}"
        top_rate, top_item = items[0]
        top_share = raw["item_writes"][top_item] / total
        figures[f"hottest_item_writes_per_s{suffix}"] = top_rate
        figures[f"hottest_item_share{suffix}"] = top_share
        figures[f"hottest_index_partition_writes_per_s{suffix}"] = partitions[0][0] if partitions else 0.0
        if verbose:
            print(f"-- mix `{mix}`: {n} leads sampled, {total} item writes, "
                  f"{raw['pump']['stream_records']} stream records; at {RATE:,} leads/s:")
            print("  hottest items (writes/s, share of all item writes):")
            for rate, label in items[:6]:
                print(f"    {rate:8.1f}/s  {raw['item_writes'][label] / total:6.2%}  {label}")
            print("  hottest index partitions (index writes/s; 1,000/s is DynamoDB's per-partition limit):")
            for rate, label in partitions[:6]:
                print(f"    {rate:8.1f}/s  {label}")
    return figures


if __name__ == "__main__":
    run()
