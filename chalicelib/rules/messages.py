"""pydantic's validation errors in Chinese, for every document and form a user sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PYDANTIC_MESSAGES = {
    "missing": "必填",
    "extra_forbidden": "未知字段",
    "literal_error": "应为 {expected} 之一",
    "enum": "应为 {expected} 之一",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限数字",
    "bool_type": "应为 true/false",
    "bool_parsing": "应为 true/false",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "tuple_type": "应为 [开始, 结束]",
    "too_short": "元素不足",
    "too_long": "元素过多",
    "string_too_short": "不能为空",
    "string_too_long": "长度不能超过 {max_length} 个字符",
    "greater_than": "必须大于 {gt}",
    "greater_than_equal": "不能小于 {ge}",
    "less_than": "必须小于 {lt}",
    "less_than_equal": "不能大于 {le}",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_type": "应为日期（YYYY-MM-DD）",
}


def pydantic_message(error: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as a short Chinese message; a
    validator's own `ValueError` text (already Chinese) as it is."""
    kind = error["type"]
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    template = (overrides or {}).get(kind) or PYDANTIC_MESSAGES.get(kind, "格式无效")
    try:
        return template.format(**error.get("ctx", {}))
    except (KeyError, IndexError):
        return template
