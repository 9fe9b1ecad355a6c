"""How the most any model can gain over the frequency model moves with the strength of the
correlation: the correlated history of `bench.scoring` with its segments loosened (each weight table
mixed toward the share-weighted average over segments: 1 = the fields independent of the segment)
or made purer (mixed toward the segment's most likely value: 1 = the segment fixes the field), for
loan type, customer type, credit status and source. Only the limit and the frequency model are
computed (no training): `limit − frequency` on the benchmark's split and the mean over five splits,
beside the mean Cramér's V of the linked pairs.

Not part of `make bench` (exploratory, a minute or two per point):
`.venv/bin/python -m bench.scoring_sensitivity`.
"""

from __future__ import annotations

import dataclasses
import sys

from bench import scoring
from chalicelib.domain.scoring import auc, feature_values, split
from chalicelib.rules.scoring import MODEL_FIELDS

TABLES = ("loan", "customer", "credit", "source")
POINTS = (("loosened", 1.0), ("loosened", 0.5), ("as written", 0.0), ("purer", 0.5), ("purer", 0.9))


def _mixed(written: dict[str, scoring.Segment], how: str, t: float) -> dict[str, scoring.Segment]:
    if t == 0.0:
        return written
    average: dict[str, dict[str, float]] = {name: {} for name in TABLES}
    for segment in written.values():
        for name in TABLES:
            for value, weight in getattr(segment, name).items():
                average[name][value] = average[name].get(value, 0.0) + segment.share * weight
    mixed = {}
    for key, segment in written.items():
        tables = {}
        for name in TABLES:
            own: dict[str, float] = getattr(segment, name)
            if how == "loosened":
                tables[name] = {v: (1 - t) * own.get(v, 0.0) + t * w for v, w in average[name].items()}
            else:
                top = max(own, key=lambda v: own[v])
                tables[name] = {v: (1 - t) * w + (t if v == top else 0.0) for v, w in own.items()}
        mixed[key] = dataclasses.replace(segment, loan=tables["loan"], customer=tables["customer"],
                                         credit=tables["credit"], source=tables["source"])
    return mixed


def run(n: int = 50_000, verbose: bool = True) -> dict[str, float]:
    profile = [name for name in MODEL_FIELDS if name not in scoring.ENGAGEMENT]
    written = dict(scoring.SEGMENTS)
    figures: dict[str, float] = {}
    try:
        for how, t in POINTS:
            mixed = _mixed(written, how, t)
            scoring.SEGMENTS.clear()
            scoring.SEGMENTS.update(mixed)
            leads, _, outcomes, known = scoring.generate(n, history="correlated")
            rows = [feature_values(lead, profile) for lead in leads]
            gains = []
            for seed in (26, 1, 2, 3, 4):
                fit_idx, _, test_idx = split(n, seed)
                frequency = scoring.FrequencyModel([rows[i] for i in fit_idx], [outcomes[i] for i in fit_idx])
                test_y = [outcomes[i] for i in test_idx]
                gains.append(auc([known[i] for i in test_idx], test_y)
                             - auc([frequency.probability(rows[i]) for i in test_idx], test_y))
            linked = scoring.associations(rows)
            tag = "written" if t == 0.0 else f"{how}_{t:g}".replace(".", "")
            figures[f"scoring_sens_{tag}_cramers_v_mean"] = sum(linked.values()) / len(linked)
            figures[f"scoring_sens_{tag}_limit_minus_frequency"] = gains[0]
            figures[f"scoring_sens_{tag}_limit_minus_frequency_mean5"] = sum(gains) / len(gains)
            if verbose:
                print(f"  {how} {t:g}: Cramér's V mean {sum(linked.values()) / len(linked):.2f}; limit − frequency "
                      f"{gains[0]:+.4f} on the benchmark's split, {sum(gains) / len(gains):+.4f} over 5 splits",
                      flush=True)
    finally:
        scoring.SEGMENTS.clear()
        scoring.SEGMENTS.update(written)
    return figures


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
