"""The loan calculator's arithmetic (the hosted `calc` form computes the same in the page's JS).

等额本息 (equal instalments): every month pays P·r·(1+r)^n / ((1+r)^n − 1).
等额本金 (equal principal): month k pays P/n + (P − (k−1)·P/n)·r; the first month is the largest.
Amounts in yuan, rounded half-up to the fen for display only."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Repayment:
    annuity_monthly: Decimal  # 等额本息 每月还款
    annuity_interest: Decimal  # 等额本息 总利息
    principal_first: Decimal  # 等额本金 首月还款
    principal_decrease: Decimal  # 等额本金 每月递减
    principal_interest: Decimal  # 等额本金 总利息


def _fen(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def repayment(amount_wan: float, years: int, rate_percent: float) -> Repayment:
    principal = amount_wan * 10000
    months = years * 12
    r = rate_percent / 100 / 12
    if r == 0:
        monthly = principal / months
    else:
        growth = (1 + r) ** months
        monthly = principal * r * growth / (growth - 1)
    base = principal / months
    return Repayment(
        annuity_monthly=_fen(monthly), annuity_interest=_fen(monthly * months - principal),
        principal_first=_fen(base + principal * r), principal_decrease=_fen(base * r),
        principal_interest=_fen(principal * r * (months + 1) / 2))


def yuan(value: Decimal) -> str:
    """4490.45 → '4,490.45'."""
    return f"{value:,.2f}"
