"""MAPS projects export → OPS ``project`` (+ ``research_project`` or ``administrative_and_support_project``).

MAPS.md, projects: SYS_PROJECT_ID is OPS's project id (below 1000, the range OPS keeps for MAPS);
PROJECT_TITLE and PROJECT_TYPE are required; PROJECT_TYPE is RESEARCH or ADMINISTRATIVE_AND_SUPPORT
(any case), anything else refused — the loader OPS used before made every other value, typos
included, an administrative project. A blank description is OPS's empty description.
"""
from __future__ import annotations

from ..maps import MapsDataset, Parse, col

PROJECT_TYPES = ("RESEARCH", "ADMINISTRATIVE_AND_SUPPORT")


class MapsProjects(MapsDataset):
    name = "maps-projects"
    title = "MAPS projects export"
    maps_type = "projects"
    tier = 2
    columns = (
        col("SYS_PROJECT_ID", "id"),
        col("PROJECT_TITLE", "title", required=True),
        col("PROJECT_TYPE", "project_type", required=True),
        col("PROJECT_SHORT_TITLE", "short_title"),
        col("PROJECT_DESCRIPTION", "description"),
    )
    required_values = ("title", "project_type")
    unique = ("id",)
    entity_order = ("project",)

    def parse(self, p: Parse) -> dict:
        return {
            "id": p.id("id", "project"),
            "title": p.text("title"),
            "project_type": p.enum("project_type", PROJECT_TYPES, upper=True),
            "short_title": p.text("short_title"),
            "description": p.text("description") or "",
        }

    def records(self, values: dict):
        yield {"entity": "project", "key": {"id": values["id"], "title": values["title"]},
               "values": {k: values[k] for k in ("title", "project_type", "short_title", "description")}}

    def entities(self) -> tuple:
        from ..db import ops_models as m
        from ..db.entities import EntitySpec, Key, Subtype

        return (EntitySpec(
            "project", m.Project,
            # A row without a MAPS id is the OPS project of the same title (the loader OPS used
            # before inserted a new project on every run).
            Key(by_id="id", signature=("title",)),
            fields=("title", "short_title", "description"),
            subtype=Subtype("project_type", {"RESEARCH": m.ResearchProject,
                                             "ADMINISTRATIVE_AND_SUPPORT": m.AdministrativeAndSupportProject},
                            value="project_type", default="RESEARCH"),
            update="all",
        ),)
