"""The Chalice app: creates it, registers middleware and blueprints. Nothing else."""

from chalice.app import Chalice

from chalicelib import metrics
from chalicelib.handlers import (
    admin,
    capture,
    dashboard,
    directory,
    followup,
    forms,
    imports,
    leads,
    meta,
    pool,
    privacy,
    reports,
    schedules,
    streams,
)
from chalicelib.handlers.http import rewrite_framework_errors
from chalicelib.observability import http_correlation

app = Chalice(app_name="loan-leads")
app.register_middleware(rewrite_framework_errors, "http")
app.register_middleware(http_correlation, "http")
app.register_middleware(metrics.flush_per_invocation, "http")

for blueprint in (meta.bp, capture.bp, leads.bp, pool.bp, followup.bp, admin.bp, streams.bp, schedules.bp,
                  imports.bp, directory.bp, dashboard.bp, privacy.bp, forms.bp,
                  reports.bp):
    app.register_blueprint(blueprint)
