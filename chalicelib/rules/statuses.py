"""The lead statuses and their Chinese labels: the vocabulary of `domain/lifecycle.py` (which owns
the transitions) and of the documents that name a status (SOP triggers)."""

from __future__ import annotations

STATUS_LABELS: dict[str, str] = {
    "new": "新线索",
    "invalid": "无效线索",
    "duplicate": "重复线索",
    "pool": "公海",
    "assigned": "已分配",
    "contacted": "初步接触",
    "observing": "待观察",
    "intent": "意向明确",
    "qualifying": "资质审核",
    "won": "签约放款",
    "lost": "流失",
}
