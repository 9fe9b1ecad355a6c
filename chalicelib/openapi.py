"""The OpenAPI document served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.lead import LeadSubmission

_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(ok: str, *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {ok: {"description": "成功"}}
    for code in codes:
        out[str(code)] = {"description": "错误", "content": {"application/json": {"schema": _ERROR}}}
    return out


def _op(summary: str, *codes: int) -> dict[str, Any]:
    """A signed-in operation: 401/403 always possible, plus its own error codes."""
    return {"summary": summary, "security": [{"bearer": []}], "responses": _responses("200", 401, 403, *codes)}


def document() -> dict[str, Any]:
    return complete(_document())


def _document() -> dict[str, Any]:
    lead_in = LeadSubmission.model_json_schema()
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "贷款线索管理 API", "version": "1.0.0"},
        "servers": [{"url": "/api"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "partnerKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
            "schemas": {
                "LeadSubmission": lead_in,
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}}}}}},
            },
        },
        "paths": {
            "/health": {"get": {"summary": "健康检查", "responses": _responses("200")}},
            "/capture": {"post": {
                "summary": "公开表单提交线索（JSON 或表单编码）",
                "description": "浏览器的表单提交（表单编码且 Accept 含 text/html）一律返回 HTML：成功 303 跳转到感谢页"
                               "（允许的 redirect_to 后附 lead_id），失败为列出字段的中文页面；其他客户端返回 JSON。",
                "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
                "requestBody": {"content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/LeadSubmission"}},
                    "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/LeadSubmission"}}}},
                "responses": _responses("202", 400, 409, 413, 415, 422)}},
            "/partner/leads": {"post": {
                "summary": "合作方批量推送线索（1–100 条）", "security": [{"partnerKey": []}],
                "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                    "leads": {"type": "array", "minItems": 1, "maxItems": 100,
                              "items": {"$ref": "#/components/schemas/LeadSubmission"}}}}}}},
                "responses": _responses("202", 400, 401, 403, 413, 415)}},
            "/leads": {
                "get": {"summary": "按权限范围列出线索", "security": bearer,
                        "description": "自定义选项字段按 custom.<字段标识>=<选项> 筛选；"
                                       "city_not、campaign_not 为逗号分隔的排除取值（报表“其他”行的明细）。",
                        "parameters": [
                    {"name": n, "in": "query", "schema": {"type": "string"}}
                    for n in ("status", "owner", "source", "from", "to", "limit", "cursor", "team", "partner_id",
                              "loan_type", "region", "province", "customer_type", "stage", "first_team",
                              "first_owner", "score_band", "form_id", "campaign", "city_not", "campaign_not", "sort")],
                    "responses": _responses("200", 400, 401, 403)},
                "post": {"summary": "手工录入线索", "security": bearer,
                         "requestBody": {"content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/LeadSubmission"}}}},
                         "responses": _responses("202", 400, 401, 403, 422)}},
            "/config/{name}": {
                "get": {"summary": "当前配置文档及版本（lead-profile 线索字段，cleaning 清洗规则）", "security": bearer,
                        "responses": _responses("200", 401)},
                "put": {"summary": "发布新版本的配置（管理员；主管仅可改本团队规则的权重），note 查询参数为发布说明",
                        "security": bearer,
                        "parameters": [{"name": "note", "in": "query", "schema": {"type": "string"}}],
                        "responses": _responses("200", 401, 403, 422)}},
            "/config/{name}/versions": {"get": _op("版本列表：发布人、北京时间、发布说明", 404)},
            "/config/{name}/versions/{version}": {"get": _op("某一版本的配置文档（用于与草稿对比）", 404, 422)},
            "/config/{name}/validate": {"post": _op("校验草稿配置（不发布）", 404, 422)},
            "/config/{name}/rollback": {"post": _op("回滚到指定版本（作为新版本发布，管理员）", 404, 422)},
            "/config/routing/dry-run": {"post": _op(
                "试运行草稿路由规则（lead、lead_ids 或最近 days 天），列出与现行规则的差异", 422)},
            "/pool": {"get": {**_op("公海池，最新在前（sort=score：本页按评分从高到低）", 400), "parameters": [
                {"name": n, "in": "query", "schema": {"type": "string"}}
                for n in ("region", "loan_type", "min_amount", "max_amount", "max_age_days", "limit", "cursor",
                          "sort")]}},
            "/scoring": {"get": _op(
                "线索评分：当前依据（历史模型或先验权重）、模型的训练窗口、样本量、AUC、Brier、所用字段")},
            "/scoring/train": {"post": _op("立即用已结案线索训练评分模型（管理员；每日也自动训练）")},
            "/dashboard": {"get": {**_op(
                "看板：所选日期内创建的线索的漏斗、渠道、产品、排行榜、转化周期与分布（主管仅本团队，管理员全部）；"
                "每个数字附 drill：列出这些线索的 GET /leads 查询参数", 400), "parameters": [
                {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                {"name": "team", "in": "query", "schema": {"type": "string"}}]}},
            "/reports/query": {"post": _op(
                "报表卡片：measures × 至多一个时间维度和一个其他维度 × filters × from/to，来自流式维护的报表计数"
                "（主管仅本团队，管理员全部）；每行附 drill（docs/reports.md）", 400)},
            "/reports/catalog": {"get": _op("报表可选的指标、维度（含选项类自定义字段）和图表类型")},
            "/reports/export": {"post": _op("把卡片或看板导出为 Excel（每张卡片一个工作表），返回下载地址", 400)},
            "/boards": {"get": _op("我能看到的看板（自己的、团队共享的、全公司共享的、系统预置）和首页看板"),
                        "post": _op("新建看板（personal / team / all，weekly：每周一推送摘要）", 400)},
            "/boards/{board_id}": {"get": _op("一个看板", 404), "put": _op("修改自己的看板", 400, 404),
                                   "delete": _op("删除自己的看板", 404)},
            "/boards/{board_id}/home": {"post": _op("设为我的首页看板", 404)},
            "/costs": {"post": _op("录入投放成本（按渠道/推广活动/合作方，按天或按月）和合作方每条有效线索单价"
                                   "（管理员）", 400),
                       "get": {**_op("某月已录入的投放成本和合作方单价（管理员）", 400), "parameters": [
                           {"name": "month", "in": "query", "schema": {"type": "string"}}]}},
            "/leads/{lead_id}/claim": {"post": _op("销售从公海领取（每日上限、持有上限、冷却期）", 404, 409)},
            "/leads/{lead_id}/release": {"post": _op("释放回公海（须填写原因）", 404, 409, 422)},
            "/leads/assign": {"post": _op("主管/管理员批量分配、重新分配、转移（逐条返回结果）", 422)},
            "/leads/{lead_id}/merge": {"post": _op("手工合并（source 并入此线索）", 404, 409, 422)},
            "/leads/{lead_id}/unmerge": {"post": _op("撤销手工合并", 404, 409, 422)},
            "/leads/{lead_id}/activities": {"post": _op("记录跟进（电话、短信、微信、邮件、面谈、备注等）", 404, 422)},
            "/leads/{lead_id}/status": {"post": _op(
                "变更状态（version 乐观锁；主管、管理员可将流失或无效线索重新放回公海：status=pool，须填写原因）",
                404, 409, 422)},
            "/tasks": {"get": _op("我的待办：逾期、今日、未来 7 天")},
            "/leads/{lead_id}/tasks": {"post": _op("新建手工任务（title、due_at）", 404, 422)},
            "/leads/{lead_id}/tasks/{task_id}/complete": {"post": _op("完成任务", 404)},
            "/leads/{lead_id}/tasks/{task_id}/snooze": {"post": _op("推迟任务（until）", 404, 409, 422)},
            "/inbox": {"get": _op("我的消息（unread=1 仅未读；含未读数）", 400)},
            "/inbox/read": {"post": _op("标记已读", 422)},
            "/teams/{team_id}/webhook": {"put": _op("设置团队机器人（企业微信 wecom / 钉钉 dingtalk）", 404, 422)},
            "/users/{user_id}": {"patch": _op("设置销售在岗、停用、每日上限、持有上限", 404, 422)},
            "/imports": {
                "post": {"summary": "新建导入任务：返回 import_id 与上传地址 upload_url", "security": bearer,
                         "requestBody": {"content": {"application/json": {"schema": {
                             "type": "object", "required": ["filename"],
                             "properties": {"filename": {"type": "string", "pattern": r"\.(xlsx|xls|csv)$"}}}}}},
                         "responses": _responses("201", 400, 401, 415)},
                "get": _op("最近的导入任务（销售：本人；主管：本团队；管理员：全部）")},
            "/imports/template": {"get": _op("下载导入模板（.xlsx，含中文表头、示例行和下拉选项）")},
            "/imports/{import_id}": {"get": {
                **_op("导入任务：status、counts（rows/imported/duplicate/rejected）、progress、error_report_url", 404),
                "parameters": [{"name": "import_id", "in": "path", "required": True, "schema": {"type": "string"}}]}},
            "/exports/leads": {"get": {
                **_op("导出线索为 .xlsx（按权限范围与脱敏规则；scope=leads 同线索列表筛选，scope=pool 公海）", 400),
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                               for n in ("scope", "status", "owner", "source", "from", "to", "region", "loan_type")]}},
            "/me": {"get": _op("当前登录用户（编号、姓名、角色、团队）")},
            "/users": {"get": _op("用户列表：管理员看全部，主管看本团队；销售含持有线索数和今日分配数")},
            "/teams": {"get": _op("团队列表：管理员看全部，其他人看本团队")},
            "/leads/{lead_id}": {
                "get": {"summary": "线索详情", "security": bearer,
                        "parameters": [{"name": "lead_id", "in": "path", "required": True,
                                        "schema": {"type": "string"}}],
                        "responses": _responses("200", 401, 403, 404)},
                "patch": _op("编辑线索（仅限业务字段；负责人、状态、授权、合作方等系统字段一律拒绝；"
                             "请求体的 version 或 If-Match 请求头为编辑前读到的版本，"
                             "已被他人修改时返回 409 及当前版本）",
                             404, 409, 422)},
            "/openapi.json": {"get": {"summary": "本 OpenAPI 文档", "responses": _responses("200")}},
            **_form_paths(),
            **_security_paths(),
        },
    }


def _form_paths() -> dict[str, Any]:
    """Hosted forms (public; also served at /f/... outside the stage path: docs/forms.md)."""
    tracking = [{"name": n, "in": "query", "schema": {"type": "string", "maxLength": 100}}
                for n in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "c")]
    html = {"200": {"description": "页面", "content": {"text/html": {"schema": {"type": "string"}}}},
            "404": {"description": "表单不存在或已停用", "content": {"application/json": {"schema": _ERROR}}}}
    return {
        "/f/{form_id}": {"get": {"summary": "托管表单页面（HTML，无需 JavaScript 即可提交）", "parameters": tracking,
                                 "responses": html}},
        "/f/{form_id}/thanks": {"get": {"summary": "托管表单的感谢页（HTML）", "parameters": [
            {"name": "lead_id", "in": "query", "schema": {"type": "string"}}], "responses": {"200": html["200"]}}},
        "/f/{form_id}/qr.svg": {"get": {"summary": "表单二维码（SVG，含 utm_* 与渠道代码 c）", "parameters": tracking,
                                        "responses": {"200": {"description": "二维码", "content": {
                                            "image/svg+xml": {"schema": {"type": "string"}}}}, "404": html["404"]}}},
        "/f/{form_id}/qr.png": {"get": {"summary": "表单二维码（PNG，请求须接受 image/png）", "parameters": tracking,
                                        "responses": {"200": {"description": "二维码", "content": {
                                            "image/png": {"schema": {"type": "string", "format": "binary"}}}},
                                                      "404": html["404"], **_responses("200", 406)}}},
    }


def _security_paths() -> dict[str, Any]:
    """PIPL and partner-key routes."""
    return {
        "/leads/{lead_id}/reveal": {"post": _op("查看完整号码（须填写原因，记录审计）", 404, 422)},
        "/leads/{lead_id}/audit": {"get": _op("线索审计记录（主管、管理员）", 404)},
        "/privacy/erase": {"post": _op("按号码或线索编号删除个人的全部数据并返回回执（管理员）", 404, 422)},
        "/partners": {"get": _op("合作方列表（名称、是否启用；管理员）")},
        "/partners/{partner_id}/keys": {"get": _op("合作方 API Key 列表（管理员）", 404),
                                        "post": _op("签发新的 API Key（仅显示一次，管理员）", 404)},
        "/partners/{partner_id}/keys/{key_id}/rotate": {"post": _op("轮换 API Key（签发新 Key 并吊销旧 Key）", 404)},
        "/partners/{partner_id}/keys/{key_id}/revoke": {"post": _op("吊销 API Key（下一次请求即被拒绝）", 404)},
        "/partners/{partner_id}/rate": {"put": _op("设置每个 API Key 每分钟请求上限（管理员）", 404, 422)},
    }


_BODY_MODELS = {
    ("/leads/{lead_id}/activities", "post"): ("chalicelib.domain.followup", "ActivityIn"),
    ("/leads/{lead_id}/status", "post"): ("chalicelib.domain.followup", "StatusChange"),
    ("/leads/{lead_id}/release", "post"): ("chalicelib.handlers.leads", "Release"),
    ("/leads/assign", "post"): ("chalicelib.handlers.leads", "Assign"),
    ("/teams/{team_id}/webhook", "put"): ("chalicelib.handlers.directory", "Webhook"),
    ("/users/{user_id}", "patch"): ("chalicelib.handlers.directory", "Duty"),
    ("/inbox/read", "post"): ("chalicelib.handlers.inbox", "ReadIds"),
    ("/leads/{lead_id}/tasks", "post"): ("chalicelib.handlers.leads", "TaskIn"),
    ("/leads/{lead_id}/tasks/{task_id}/snooze", "post"): ("chalicelib.handlers.leads", "Snooze"),
    ("/partners/{partner_id}/rate", "put"): ("chalicelib.handlers.partners", "Rate"),
}
_FREE_BODY = {"application/json": {"schema": {"type": "object"}}}


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    """Declare every path parameter, and a JSON body for every write, so clients and fuzzers can
    call each operation: the body models the handlers validate with, else any JSON object."""
    import importlib
    import re

    for path, operations in doc["paths"].items():
        names = re.findall(r"{(\w+)}", path)
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
            operation["parameters"] = [*operation.get("parameters", []), *(
                {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                for n in names if n not in declared)]
            if method in ("post", "put", "patch") and "requestBody" not in operation:
                target = _BODY_MODELS.get((path, method))
                if target is not None:
                    model = getattr(importlib.import_module(target[0]), target[1])
                    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                    for name, sub in schema.pop("$defs", {}).items():
                        doc["components"]["schemas"].setdefault(name, sub)
                    operation["requestBody"] = {"content": {"application/json": {"schema": schema}}}
                else:
                    operation["requestBody"] = {"required": False, "content": _FREE_BODY}
            operation["responses"].setdefault(
                "429", {"description": "请求过于频繁", "content": {"application/json": {"schema": _ERROR}}})
    return doc
