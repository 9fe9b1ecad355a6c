"""CloudFormation merged into `chalice package` output; `infra/tables.yaml` is generated here."""
