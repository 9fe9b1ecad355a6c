"""The Chalice app: creates it, registers middleware and blueprints. Nothing else."""

from chalice.app import Chalice

from chalicelib import metrics
from chalicelib.handlers import (
    admin,
    capture,
    dashboard,
    directory,
    exports,
    forms,
    imports,
    inbox,
    leads,
    meta,
    partners,
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

for blueprint in (meta.bp, capture.bp, leads.bp, pool.bp, inbox.bp, admin.bp, streams.bp, schedules.bp,
                  imports.bp, exports.bp, directory.bp, dashboard.bp, privacy.bp, partners.bp, forms.bp,
                  reports.bp):
    app.register_blueprint(blueprint)
