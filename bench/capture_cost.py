"""DynamoDB requests and capacity units per captured lead, counted at the client, on five mixes.

An embedded moto server (a temporary state dir, nothing under .local/), the demo org seeded,
N leads posted to POST /capture through API Gateway's event shape (half plain JSON, half with an
Idempotency-Key), then the lead stream drained by calling the trigger pump synchronously. One
container serves everything, so per-container caches (lead profile, lead-number block) are paid
once, as in a warm Lambda.

Mixes (`MIXES`), each a fresh stack:
- `assigned`: the common case of a team that routes all its leads: one routing rule sends every
  lead to one team, round robin; each lead ends assigned with its first task and its counters.
- `demo`: the demo org's default rules (上海+房贷 and 华南+信贷 assigned, the rest to the pool).
- `duplicate`: N leads captured and drained first (not measured), then N new submissions from the
  same phones: each becomes a duplicate of the first and re-inquires on it.
- `lone`: the `assigned` routing, but each lead's stream drained before the next is posted (at most
  `LONE_N` leads): how a small lender's leads arrive, one every few minutes, each alone in its stream
  batches, so whatever a batch writes as a whole (the dashboard counters) is paid by one lead.
- `invalid`: N leads cleaning refuses (a test name, 测试), the junk a public form's ads bring in.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.meter import DynamoMeter, Tally, probe_reported_capacity
from bench.phones import valid_mobiles

# us-east-1 on-demand, Standard table class (since the November 2024 price cut).
USD_PER_MILLION_WRITE_UNITS = 0.625
USD_PER_MILLION_READ_UNITS = 0.125

Units = Callable[[Tally], float]

_CITIES = [("上海", "上海"), ("广州", "广东"), ("深圳", "广东"), ("杭州", "浙江"), ("成都", "四川")]
_LOAN_TYPES = ["mortgage", "credit", "business", "car"]
_SURNAMES = "王李张刘陈杨黄赵周吴"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明"


def lead_body(phone: str, rng: random.Random) -> dict[str, Any]:
    """A plausible public-form lead; `phone` from `bench.phones.valid_mobiles`, so it is kept."""
    city, province = rng.choice(_CITIES)
    return {
        "name": rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2))),
        "phone": phone,
        "loan_type": rng.choice(_LOAN_TYPES),
        "amount": rng.choice([30, 50, 80, 120, 200]),
        "city": city,
        "province": province,
        "source": "website_form",
        "consent": True,
        "utm_source": "baidu",
        "utm_medium": "cpc",
        "utm_campaign": "spring_mortgage",
        "page_url": "https://www.example-lender.cn/loan/apply?from=bench",
    }


def _per_lead(tally: Tally, n: int) -> dict[str, float]:
    return {key: count / n for key, count in sorted(tally.requests.items())}


def _combine(*tallies: Tally) -> Tally:
    total = Tally()
    for tally in tallies:
        total.requests.update(tally.requests)
        total.write_units += tally.write_units
        total.read_units += tally.read_units
        total.reported_write_units += tally.reported_write_units
        total.reported_read_units += tally.reported_read_units
        total.failures += tally.failures
        total.clients_created += tally.clients_created
        total.write_units_by.update(tally.write_units_by)
        total.write_units_item.update(tally.write_units_item)
        for key, units in tally.read_units_by.items():
            total.read_units_by[key] = total.read_units_by.get(key, 0.0) + units
    return total


MIXES = ("assigned", "demo", "duplicate", "lone", "invalid")
LONE_N = 30  # each lead drained alone: its batches cost the same at any N

# The `assigned` mix's routing: every lead to one team, round robin.
ONE_TEAM = "sh_mortgage"
ONE_TEAM_RULES = [{"id": "all", "name": "全部分配", "when": None,
                   "action": {"type": "assign_team", "team": ONE_TEAM, "strategy": "round_robin"}}]


def _route_everything_to_one_team(at: str, n: int) -> None:
    """One rule sends every lead to 上海房贷组, whose reps may each take all n leads today (the
    default daily cap, 50, would send 300 leads' last 150 to the pool)."""
    from chalicelib.rules.routing import default_rule_set
    from chalicelib.store import config, ownership

    document = default_rule_set().model_dump(mode="json")
    document["rules"] = ONE_TEAM_RULES
    config.publish("routing", document, "system", at)
    config.clear_cache()
    for rep in ownership.team_members(ONE_TEAM):
        if rep["role"] == "rep":
            ownership.update_user(rep["user_id"], {"daily_cap": max(n, rep["daily_cap"]),
                                                   "max_open": max(n, rep["max_open"])})


_MEASURED: dict[tuple[int, str], dict[str, Any]] = {}


def measured(n: int, mix: str) -> dict[str, Any]:
    """`measure(n, mix)` once per process: `make bench` shares one run of each mix between this
    benchmark and bench/hot_keys.py."""
    if (n, mix) not in _MEASURED:
        _MEASURED[(n, mix)] = measure(n, mix)
    return _MEASURED[(n, mix)]


def measure(n: int, mix: str = "demo") -> dict[str, Any]:
    """Run the scenario on one mix and return the raw tallies. Leaves the process as it found it: environment,
    pynamodb's cached connections, botocore and the app's log level are restored."""
    from local.aws import LocalAws, free_port
    from local.env import REGION, configure

    saved_env = dict(os.environ)
    state = tempfile.TemporaryDirectory(prefix="bench-capture-")
    aws = LocalAws(Path(state.name))
    meter: DynamoMeter | None = None
    models: tuple[Any, ...] = ()
    quiet: Any = None  # the app logger, quietened while measuring
    quiet_level = 0
    try:
        endpoint = aws.start()
        configure(endpoint, free_port(), Path(state.name))
        from chalicelib.settings import get_settings
        from chalicelib.store.schema import MODELS

        models = MODELS
        _forget_connections(models)  # clients cached by an earlier run point elsewhere
        meter = DynamoMeter(endpoint, REGION, get_settings().table_prefix)
        meter.install()
        pending = aws.create_resources()

        from chalice.config import Config

        import app as app_module
        from chalicelib.observability import logger
        from chalicelib.services import capture, routing
        from chalicelib.store import config, rates
        from local.gateway import StageGateway
        from local.pump import TriggerPump
        from local.seed import seed_demo_org

        quiet = logger
        quiet_level = logger.log_level
        logger.setLevel("WARNING")  # one INFO line per placed lead would bury the figures
        config.clear_cache()
        rates.clear_cache()
        capture._allocator.cache_clear()
        routing.clear_caches()
        seeded_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        seed_demo_org(seeded_at, Path(state.name))
        if mix in ("assigned", "lone"):
            _route_everything_to_one_team(seeded_at, n)
        pump = TriggerPump(aws, app_module.app, threading.RLock(), pending)
        pump.skip_existing()
        gateway = StageGateway(app_module.app, Config.create(chalice_app=app_module.app, lambda_timeout=60,
                                                             lambda_memory_size=512, function_name="api_handler"))
        rng = random.Random(20240520)
        phones = valid_mobiles(rng, n)
        addresses = client_addresses(rng, 2 * n)
        statuses: dict[int, int] = {}
        owners: dict[str, str] = {}  # request -> the lead it captured

        def drain(round_: str, measured: bool, i: int | None = None) -> None:
            meter.phase, meter.owner = ("stream" if measured else "warmup"), None
            with _owned_by_record(meter):
                for invocation in itertools.count():
                    # what a batch writes as a whole
                    meter.owner = f"invocation-{round_}-{'' if i is None else f'{i}-'}{invocation}"
                    if not pump.pump_streams():
                        break

        def capture_and_drain(round_: str, measured: bool) -> None:
            for i in range(n):
                phase = "capture_keyed" if i % 2 else "capture_plain"
                meter.phase = phase if measured else "warmup"
                headers = {"Content-Type": "application/json"}
                if i % 2:
                    headers["Idempotency-Key"] = f"bench-{round_}-{i:06d}"
                fields = lead_body(phones[i], rng)
                if mix == "invalid":
                    fields["name"] = "测试"  # a test name: cleaning refuses the lead
                body = json.dumps(fields, ensure_ascii=False).encode("utf-8")
                meter.owner = f"request-{round_}-{i}"
                # visitors of a public form: one address each
                gateway.client_ip = addresses[i + (n if round_ == "again" else 0)]
                response = gateway.handle_request("POST", "/capture", headers, body)
                status = int(response["statusCode"])
                if measured:
                    statuses[status] = statuses.get(status, 0) + 1
                if status == 202:
                    owners[meter.owner] = json.loads(response["body"])["lead_id"]
                if mix == "lone":
                    drain(round_, measured, i)
            drain(round_, measured)

        if mix == "duplicate":
            capture_and_drain("first", measured=False)
            meter.writers.clear()
            meter.item_writes.clear()
            meter.partition_writes.clear()
        capture_and_drain("again" if mix == "duplicate" else "first", measured=True)
        meter.phase = "after"
        writers = {item: {owners.get(o, o) for o in who} for item, who in meter.writers.items()}
        reported, expected = probe_reported_capacity(meter.raw)
        owned = _owned_tokens(set(owners.values()), phones, addresses)
        return {"tallies": meter.tallies, "writers": writers, "owned": owned, "statuses": statuses,
                "item_writes": dict(meter.item_writes), "partition_writes": dict(meter.partition_writes),
                "pump": dict(pump.stats), "lead_statuses": _lead_statuses(meter.raw), "probe_reported": reported,
                "probe_expected": expected}
    finally:
        if quiet is not None:
            quiet.setLevel(quiet_level)
        if meter is not None:
            meter.uninstall()
        aws.stop()
        _forget_connections(models)
        os.environ.clear()
        os.environ.update(saved_env)
        state.cleanup()


def client_addresses(rng: random.Random, n: int) -> list[str]:
    """Distinct public IPv4 addresses (China Telecom's 36.0.0.0/10), none on the allow-lists."""
    found: set[str] = set()
    while len(found) < n:
        found.add(f"36.{rng.randint(0, 63)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}")
    return sorted(found, key=lambda _: rng.random())


def _owned_tokens(lead_ids: set[str], phones: list[str], addresses: list[str]) -> set[str]:
    """What names an item that belongs to one lead, phone (as stored, or hashed), rep, team or
    visitor: an item whose key holds none of these is global."""
    from chalicelib.domain.phone import normalise_cn_phone
    from local.seed import TEAMS, USERS

    tokens = set(lead_ids) | set(addresses) | set(USERS) | {team[0] for team in TEAMS}
    for phone in phones:
        e164 = normalise_cn_phone(phone)
        tokens |= {phone, e164, hashlib.sha256(e164.encode("utf-8")).hexdigest()[:32]}
    return tokens


def hottest_global(writers: dict[str, set[str]], owned: set[str], n: int) -> list[tuple[float, str]]:
    """Items no lead, phone, rep, team or visitor owns, by the share of leads (or stream invocations,
    for what a batch writes as a whole) that wrote them, hottest first."""
    shares = [(len(who - {"-"}) / n, item) for item, who in writers.items()
              if who - {"-"} and not any(token in item for token in owned)]
    return sorted(shares, reverse=True)


@contextmanager
def _owned_by_record(meter: DynamoMeter) -> Iterator[None]:
    """While the stream drains, a write is attributed to the lead of the record being handled, or
    else to the invocation (a write on behalf of the whole batch)."""
    from chalicelib.services import pipeline

    original = pipeline.handle_record

    def handle(record: dict[str, Any], batch_at: str, parsed: dict[str, Any]) -> None:
        keys = record.get("dynamodb", {}).get("Keys") or {}
        invocation, meter.owner = meter.owner, keys.get("lead_id", {}).get("S")
        try:
            original(record, batch_at, parsed)
        finally:
            meter.owner = invocation

    pipeline.handle_record = handle
    try:
        yield
    finally:
        pipeline.handle_record = original


def _lead_statuses(raw: Any) -> dict[str, int]:
    """Leads by status after the stream (the meter's own, unmetered client)."""
    from chalicelib.store.schema import LeadModel

    counts: dict[str, int] = {}
    pages = raw.get_paginator("scan").paginate(TableName=LeadModel.Meta.table_name, ProjectionExpression="#s",
                                               ExpressionAttributeNames={"#s": "status"})
    for page in pages:
        for item in page["Items"]:
            status = item.get("status", {}).get("S", "?")
            counts[status] = counts.get(status, 0) + 1
    return counts


def _forget_connections(models: tuple[Any, ...]) -> None:
    from chalicelib.store import connection

    connection.reset()


def _combine_all(tallies: dict[str, Tally]) -> tuple[Tally, Tally, Tally, Tally, Tally]:
    plain, keyed = tallies.get("capture_plain", Tally()), tallies.get("capture_keyed", Tally())
    capture, stream = _combine(plain, keyed), tallies.get("stream", Tally())
    return plain, keyed, capture, stream, _combine(capture, stream)


def _checks(mix: str, n: int, raw: dict[str, Any], total: Tally) -> dict[str, bool]:
    statuses = raw["lead_statuses"]
    checks = {
        "http_202": raw["statuses"].get(202, 0) == n,
        "no_failed_calls": total.failures == 0,
        "stream_delivered": raw["pump"]["stream_failures"] == 0 and raw["pump"]["dead_letters"] == 0,
    }
    if mix in ("assigned", "lone"):  # every lead placed with an owner
        checks["all_assigned"] = statuses == {"assigned": n}
    elif mix == "demo":  # every lead cleaned and kept, none rejected as test data or merged
        checks["all_kept"] = (sum(statuses.values()) == n
                              and not {"new", "invalid", "duplicate"} & set(statuses))
    elif mix == "invalid":  # every lead refused by cleaning
        checks["all_invalid"] = statuses == {"invalid": n}
    else:  # the second round merged into the first
        checks["all_duplicates"] = statuses.get("duplicate", 0) == n and sum(statuses.values()) == 2 * n
    return checks


def run_mix(n: int, mix: str, verbose: bool = True) -> dict[str, float]:
    """The figures of one mix, by their plain names (`write_units_per_lead`...)."""
    raw = measured(n, mix)
    tallies: dict[str, Tally] = raw["tallies"]
    plain, keyed, capture, stream, total = _combine_all(tallies)
    faithful = abs(raw["probe_reported"] - raw["probe_expected"]) < 1e-9

    def wcu(tally: Tally) -> float:
        return tally.reported_write_units if faithful else tally.write_units

    def rcu(tally: Tally) -> float:
        return tally.reported_read_units if faithful else tally.read_units

    usd = (wcu(total) * USD_PER_MILLION_WRITE_UNITS + rcu(total) * USD_PER_MILLION_READ_UNITS) / n
    figures = {
        "capture_requests_per_lead": capture.total_requests / n,
        "stream_requests_per_lead": stream.total_requests / n,
        "write_units_per_lead": wcu(total) / n,
        "read_units_per_lead": rcu(total) / n,
        "capture_write_units_per_lead": wcu(capture) / n,
        "capture_read_units_per_lead": rcu(capture) / n,
        "stream_write_units_per_lead": wcu(stream) / n,
        "stream_read_units_per_lead": rcu(stream) / n,
        "botocore_clients_per_lead": (capture.clients_created + stream.clients_created) / n,
        "scans": float(total.count("Scan")),
        "usd_per_million_leads": usd,
    }
    hottest = hottest_global(raw["writers"], raw["owned"], n)
    figures["hottest_global_item_share"] = hottest[0][0] if hottest else 0.0
    checks = _checks(mix, n, raw, total)
    if verbose:
        print(f"-- mix `{mix}`")
        print("  hottest items no lead, phone, rep, team or visitor owns (share of leads that wrote each):")
        for share, item in hottest[:5]:
            print(f"    {share:7.2%}  {item}")
        _print(n, raw, figures, faithful, checks, {"capture (plain JSON)": (plain, n - n // 2),
                                                   "capture (Idempotency-Key)": (keyed, n // 2),
                                                   "capture (all)": (capture, n),
                                                   "stream": (stream, n), "total": (total, n)}, wcu, rcu)
    if not all(checks.values()):
        raise RuntimeError(f"capture benchmark ({mix}) did not run cleanly: {checks} {raw['statuses']} "
                           f"{raw['pump']} {raw['lead_statuses']}")
    return figures


def run(n: int = 300, verbose: bool = True, mixes: tuple[str, ...] = MIXES) -> dict[str, float]:
    """Every mix, each on a fresh stack. The all-assigned mix gives the headline figures
    (`write_units_per_assigned_lead`...); `write_units_per_lead` stays the demo mix's (its history)."""
    figures: dict[str, float] = {}
    for mix in mixes:
        of_mix = run_mix(min(n, LONE_N) if mix == "lone" else n, mix, verbose)
        if mix == "demo":
            figures.update(of_mix)
        else:
            keep = ("write_units_per_lead", "read_units_per_lead", "capture_write_units_per_lead",
                    "stream_write_units_per_lead", "usd_per_million_leads", "scans")
            for key in keep:
                name = key.replace("_lead", f"_{mix}_lead") if "_lead" in key else f"{key}_{mix}"
                figures[name] = of_mix[key]
    return figures


def _print(n: int, raw: dict[str, Any], figures: dict[str, float], faithful: bool, checks: dict[str, bool],
           rows: dict[str, tuple[Tally, int]], wcu: Units, rcu: Units) -> None:
    source = ("moto's ConsumedCapacity" if faithful else
              f"computed from item sizes (moto reported {raw['probe_reported']:g} unit(s) for a ~3 KB PutItem "
              f"that DynamoDB charges {raw['probe_expected']} for, so its ConsumedCapacity is not used)")
    print(f"capture cost: {n} leads via POST /capture ({n - n // 2} plain JSON, {n // 2} with Idempotency-Key), "
          "then the lead stream drained")
    print(f"  units: {source}")
    print(f"  {'phase':<27}{'requests/lead':>14}{'WCU/lead':>10}{'RCU/lead':>10}{'clients/lead':>13}"
          "  requests per lead by operation")
    for label, (tally, count) in rows.items():
        count = max(count, 1)
        ops = ", ".join(f"{key} {value:.3g}" for key, value in _per_lead(tally, count).items()) or "-"
        print(f"  {label:<27}{tally.total_requests / count:>14.3f}{wcu(tally) / count:>10.3f}"
              f"{rcu(tally) / count:>10.3f}{tally.clients_created / count:>13.3f}  {ops}")
    total = rows["total"][0]
    by_table = ", ".join(f"{key} {units / n:.2f}" for key, units in total.write_units_by.most_common())
    print(f"  write units per lead by request (computed from item sizes): {by_table}")
    for label in ("capture (all)", "stream"):
        tally = rows[label][0]
        print(f"  {label}: where each write unit per lead goes (item, then each index it writes):")
        for key, wcu_ in sorted(tally.write_units_item.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"    {wcu_ / n:6.2f}  {key}")
        print(f"  {label}: read units per lead by request (table/index):")
        for key, rcu_ in sorted(tally.read_units_by.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"    {rcu_ / n:6.2f}  {key}")
    print(f"  scans in the measured window: {figures['scans']:g}; clients/lead = botocore clients the app created")
    print(f"  prices: us-east-1 on-demand ${USD_PER_MILLION_WRITE_UNITS} per million write request units, "
          f"${USD_PER_MILLION_READ_UNITS} per million read request units (Lambda, API Gateway, storage and "
          "stream reads by Lambda, which are free, not included)")
    print(f"  => ${figures['usd_per_million_leads']:.3f} of DynamoDB requests per million leads")
    kept = ", ".join(f"{status} {count}" for status, count in sorted(raw["lead_statuses"].items()))
    print(f"  leads by status after the stream: {kept}")
    print(f"  checks: {', '.join(f'{k}={v}' for k, v in checks.items())}")
