"""MAPS users export → OPS ``ops_user`` (and ``user_role``).

MAPS.md, users: SYS_USER_ID is OPS's user id (below 500); EMAIL is required (OPS does not keep
e-mail addresses unique, so a user is found by its id, and a row without one is refused: matching
on e-mail could take over another account); STATUS is ACTIVE, INACTIVE or LOCKED (a blank one makes
a user INACTIVE, OPS's default, with a VALUE_COERCED warning); DIVISION is a division's exact
abbreviation (one OPS does not have is DIVISION_UNMATCHED and the user keeps its division); ROLES
is a comma-separated list of OPS role names (a name OPS does not have is ROLE_DROPPED, never
dropped silently): the load adds each listed role the user lacks (``user_role``), keeps the roles
OPS granted that the file does not list, and a blank ROLES cell changes nothing. Names and e-mail
addresses are PII: masked everywhere but the staged data and the database.
"""
from __future__ import annotations

from ..maps import MapsDataset, Parse, col

STATUSES = ("ACTIVE", "INACTIVE", "LOCKED")
#: OPS's roles (its seeded reference data: ops_initial_data.sql).
OPS_ROLES = ("SYSTEM_OWNER", "VIEWER_EDITOR", "REVIEWER_APPROVER", "USER_ADMIN", "BUDGET_TEAM", "PROCUREMENT_TEAM")


class MapsUsers(MapsDataset):
    name = "maps-users"
    title = "MAPS users export"
    maps_type = "users"
    tier = 1
    columns = (
        col("SYS_USER_ID", "id"),
        col("EMAIL", "email", required=True, pii=True),
        col("DIVISION", "division"),
        col("STATUS", "status"),
        col("ROLES", "roles"),
        col("FIRST_NAME", "first_name", pii=True),
        col("LAST_NAME", "last_name", pii=True),
    )
    required_values = ("id", "email")
    unique = ("id",)
    entity_order = ("ops_user", "user_role")
    #: user_role has no id: loaded after the users by :meth:`load_own`, not by the entity layer
    own_loads = ("user_role",)

    def parse(self, p: Parse) -> dict:
        status = p.enum("status", STATUSES)
        if status is None and p.raw("status") is None:
            p.problem("VALUE_COERCED", "status",
                      "no STATUS: a new user is INACTIVE (OPS's default); a user OPS has keeps its status")
        roles = []
        for name in (p.raw("roles") or "").split(","):
            name = name.strip()
            if not name:
                continue
            if name in OPS_ROLES:
                if name not in roles:
                    roles.append(name)
            else:
                p.problem("ROLE_DROPPED", "roles",
                          f"role {name!r} is not one of OPS's roles ({', '.join(OPS_ROLES)}): not given", name)
        return {
            "id": p.id("id", "ops_user"),
            "email": p.text("email"),
            "status": status,
            "division": p.text("division"),
            "roles": roles,
            "first_name": p.text("first_name"),
            "last_name": p.text("last_name"),
        }

    def records(self, values: dict):
        user = {"entity": "ops_user", "key": {"id": values["id"]},
                "values": {k: values[k] for k in ("email", "status", "first_name", "last_name")},
                "links": {"division": {"abbreviation": values["division"]} if values["division"] else None}}
        yield user
        for role in values["roles"]:
            yield {"entity": "user_role", "key": {"user_id": values["id"], "role": role}, "values": {}}

    def load_own(self, kind: str, records, loader) -> dict:
        from ..db.user_roles import add_roles

        return add_roles(loader, records, field="roles", code="ROLE_DROPPED")

    def entities(self) -> tuple:
        from ..db import ops_models as m
        from ..db.entities import EntitySpec, Key, Link

        division = EntitySpec("division", m.Division, Key(("abbreviation",)), insert=False)
        user = EntitySpec(
            "ops_user", m.User, Key(by_id="id"), fields=("email", "status", "first_name", "last_name"),
            links=(Link("division", "division", "division", field="division", code="DIVISION_UNMATCHED",
                        explain="OPS has no division of that abbreviation; the user keeps the division OPS has"),),
            # A blank cell keeps what OPS has (names, division); a value replaces it.
            update="given", label="user", when_empty={"status": "INACTIVE"},
        )
        return (division, user)
