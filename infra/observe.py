"""Alarms and the dashboard of a packaged stage, generated for every function Chalice packaged.

Every alarm notifies the stage's `AlarmTopic` (infra/stack.yaml). Business metrics come from
`chalicelib.metrics` (Powertools EMF: namespace POWERTOOLS_METRICS_NAMESPACE, dimension `service`).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.metrics import BUSINESS_METRICS, IMPORT_FAILED

ITERATOR_AGE_ALARM_MS = 5 * 60 * 1000  # a stream consumer five minutes behind is an incident


def _alarm(description: str, metric: str, namespace: str, dimensions: list[dict[str, Any]], statistic: str,
           threshold: float, period: int = 300) -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description,
        "Namespace": namespace, "MetricName": metric, "Dimensions": dimensions,
        "Statistic": statistic, "Period": period, "EvaluationPeriods": 1,
        "Threshold": threshold, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": "AlarmTopic"}], "OKActions": [{"Ref": "AlarmTopic"}],
    }}


def has_stream(resource: dict[str, Any]) -> bool:
    return any(e["Type"] == "DynamoDB" for e in (resource["Properties"].get("Events") or {}).values())


def alarms_for(rid: str, name: str, resource: dict[str, Any]) -> dict[str, Any]:
    """Errors and throttles for every function; iterator age for stream consumers."""
    dims = [{"Name": "FunctionName", "Value": {"Ref": rid}}]
    alarms = {
        f"{rid}ErrorsAlarm": _alarm(f"{name}: invocations failed", "Errors", "AWS/Lambda", dims, "Sum", 1),
        f"{rid}ThrottlesAlarm": _alarm(f"{name}: invocations throttled", "Throttles", "AWS/Lambda", dims, "Sum", 1),
    }
    if has_stream(resource):
        alarms[f"{rid}IteratorAgeAlarm"] = _alarm(
            f"{name}: stream records wait more than {ITERATOR_AGE_ALARM_MS // 60000} minutes", "IteratorAge",
            "AWS/Lambda", dims, "Maximum", ITERATOR_AGE_ALARM_MS, period=60)
    return alarms


def stack_alarms(namespace: str, service: str) -> dict[str, Any]:
    """Failed stream records parked on the failure queue; import files that failed as a whole."""
    queue = [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["StreamFailureQueue", "QueueName"]}}]
    async_queue = [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["AsyncFailureQueue", "QueueName"]}}]
    return {
        "StreamFailureQueueDepthAlarm": _alarm(
            "stream records given up on are waiting in the failure queue", "ApproximateNumberOfMessagesVisible",
            "AWS/SQS", queue, "Maximum", 1),
        "AsyncFailureQueueDepthAlarm": _alarm(
            "events an import or sweep failed on after Lambda's retries are waiting in the async failure queue "
            "(docs/operations.md: list and redrive with python -m infra.redrive)",
            "ApproximateNumberOfMessagesVisible", "AWS/SQS", async_queue, "Maximum", 1),
        "ImportFailuresAlarm": _alarm("an import file failed", IMPORT_FAILED, namespace,
                                      [{"Name": "service", "Value": service}], "Sum", 1),
    }


def _widget(title: str, metrics: list[list[Any]], stat: str, x: int, y: int) -> dict[str, Any]:
    return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
        "title": title, "region": "${AWS::Region}", "stat": stat, "period": 300, "view": "timeSeries",
        "metrics": metrics}}


def dashboard(functions: dict[str, dict[str, Any]], namespace: str, service: str) -> dict[str, Any]:
    """One dashboard: per-function invocations, errors, duration, throttles; stream lag; business metrics."""
    def per_function(metric: str, ids: list[str]) -> list[list[Any]]:
        return [["AWS/Lambda", metric, "FunctionName", f"${{{rid}}}"] for rid in ids]

    every = sorted(functions)
    streams = [rid for rid in every if has_stream(functions[rid])]
    widgets = [
        _widget("调用次数 Invocations", per_function("Invocations", every), "Sum", 0, 0),
        _widget("错误 Errors", per_function("Errors", every), "Sum", 12, 0),
        _widget("耗时 Duration p95", per_function("Duration", every), "p95", 0, 6),
        _widget("限流 Throttles", per_function("Throttles", every), "Sum", 12, 6),
        _widget("流延迟 Iterator age (max)", per_function("IteratorAge", streams), "Maximum", 0, 12),
        _widget("失败队列 Failure queues",
                [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${StreamFailureQueue.QueueName}"],
                 ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${AsyncFailureQueue.QueueName}"]],
                "Maximum", 12, 12),
        # Business metrics carry their own dimensions (source, how, outcome): one search shows them all.
        _widget("业务指标 Business", [[{"expression": f"SEARCH('{{{namespace}}} service=\"{service}\" "
                                                     f"MetricName=({' OR '.join(BUSINESS_METRICS)})', 'Sum', 300)",
                                       "id": "business"}]], "Sum", 0, 18),
    ]
    body = json.dumps({"widgets": widgets}, ensure_ascii=False)
    return {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": {"Fn::Sub": "${AppName}-${Stage}"}, "DashboardBody": {"Fn::Sub": body}}}
