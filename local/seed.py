"""The demo org of SPEC.md: two teams, their supervisors and reps, an admin, a demo partner."""

from __future__ import annotations

from pathlib import Path

from local.env import STATE_DIR

TEAMS = [
    ("sh_mortgage", "上海房贷组", "华东", "sh_lead"),
    ("south_credit", "华南信贷组", "华南", "gz_lead"),
]
USERS: dict[str, tuple[str, str, str | None]] = {
    "admin": ("系统管理员", "admin", None),
    "sh_lead": ("上海房贷组主管", "supervisor", "sh_mortgage"),
    "sh_rep1": ("沪房贷一号", "rep", "sh_mortgage"),
    "sh_rep2": ("沪房贷二号", "rep", "sh_mortgage"),
    "sh_rep3": ("沪房贷三号", "rep", "sh_mortgage"),
    "gz_lead": ("华南信贷组主管", "supervisor", "south_credit"),
    "gz_rep1": ("粤信贷一号", "rep", "south_credit"),
    "gz_rep2": ("粤信贷二号", "rep", "south_credit"),
}
PARTNER = ("demo_partner", "演示合作方（贷款超市）")


def partner_key_file(state_dir: Path = STATE_DIR) -> Path:
    return state_dir / "demo_partner_key"


def seed_demo_org(created_at: str, state_dir: Path = STATE_DIR) -> str:
    """Write the demo org; returns the demo partner's API key (also kept in .local/)."""
    from chalicelib.rules.cleaning import default_cleaning_rules
    from chalicelib.rules.imports import default_import_policy
    from chalicelib.rules.pool import default_pool_policy
    from chalicelib.rules.profile import default_profile
    from chalicelib.rules.routing import default_rule_set
    from chalicelib.rules.sop import default_sop_policy
    from chalicelib.store import config, directory

    for team_id, label, region, supervisor in TEAMS:
        directory.put_team(team_id, label, region, supervisor)
    for user_id, (name, role, team) in USERS.items():
        directory.put_user(user_id, name, role, team)
    directory.put_partner(*PARTNER)
    api_key = directory.create_api_key(PARTNER[0], created_at)
    # The shipped defaults as version 1 of each document, so admins see, edit and roll back to them.
    for name, document in (("lead_profile", default_profile()), ("cleaning", default_cleaning_rules()),
                           ("routing", default_rule_set()), ("pool", default_pool_policy()),
                           ("sop", default_sop_policy()), ("imports", default_import_policy())):
        config.publish(name, document.model_dump(mode="json"), "system", created_at)
    key_file = partner_key_file(state_dir)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(api_key, encoding="utf-8")
    return api_key
