"""The OPS tables the pipeline reads and writes, declared as OPS's own database has them.

OPS (the OPRE Portfolio System) owns these tables: on PostgreSQL they live in schema ``ops`` and
are created by OPS's Alembic migrations, never by this package. This module is the pipeline's
declaration of the subset it touches, so that its queries, inserts and column limits come from
one place:

* every column of each declared table, with OPS's name, type (string lengths, numeric
  precision, enum type), nullability, primary key, foreign keys (audit columns point to
  ``ops_user``) and the unique constraints a loader can run into;
* joined-table inheritance as OPS's ORM maps it: ``project``, ``agreement`` and
  ``budget_line_item`` are parents whose discriminator column names the subtype table that
  holds the rest of the row under the same id (``ContractAgreement`` is ``'CONTRACT'``);
* the SQLAlchemy-Continuum shadow tables OPS keeps history in (:func:`version_table`) and its
  ``transaction`` table (:data:`transaction_table`).

It is a *declaration*, checked against the real thing: ``tests/test_ops_schema_declaration.py``
reflects a database built from OPS's schema dump (``tests/ops_schema/ops_schema.sql``) and fails
on any difference, and :func:`ops_pipeline.db.opscheck.check_ops_schema` compares the tables the
pipeline writes with the live database before every load. On SQLite (demo, tests) there is no
OPS, so :func:`create_subset` creates these tables and seeds OPS's reference divisions,
portfolios, roles and product service codes.

Deliberate differences from OPS's ORM, none of them visible in the database:

* A foreign key to a table that is not declared here (vendor, CLIN, object class code, ...) is
  left out, so the metadata stays self-contained; :data:`UNDECLARED_FOREIGN_KEYS` lists each one
  and the declaration test holds the list to the real schema.
* The bare parents have no polymorphic identity (OPS gives them ``'project'`` etc., which the
  enum column cannot store); they are abstract, so only subtypes can be instantiated.
* Enum columns are plain ``Enum`` of the member *names*, stored as text on SQLite.
* ``created_on``/``updated_on`` default to the current UTC time, naive, on the client.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, mapped_column

from ..errors import DatabaseError
from . import ops_reference

#: OPS's schema on PostgreSQL (SQLite engines map it to none).
SCHEMA = "ops"

#: OPS's enum types (schema ``ops``) used by the declared tables: type name -> member names, in
#: the database's order. Columns store the member *names* (``'CONTRACT'``), never labels.
ENUMS = {
    "acquisitiontype": ("GSA_SCHEDULE", "TASK_ORDER", "FULL_AND_OPEN"),
    "agreementhistorytype": (
        "AGREEMENT_CREATED", "AGREEMENT_UPDATED", "AGREEMENT_DELETED", "BUDGET_LINE_ITEM_CREATED",
        "BUDGET_LINE_ITEM_UPDATED", "BUDGET_LINE_ITEM_DELETED", "CHANGE_REQUEST_CREATED",
        "CHANGE_REQUEST_UPDATED", "CHANGE_REQUEST_DELETED", "PROCUREMENT_SHOP_UPDATED",
        "PROCUREMENT_TRACKER_STEP_UPDATED", "SERVICE_COMPONENT_CREATED", "SERVICE_COMPONENT_UPDATED",
        "SERVICE_COMPONENT_DELETED", "GRANT_NUMBER_CREATED", "GRANT_NUMBER_UPDATED", "GRANT_NUMBER_DELETED",
    ),
    "agreementreason": ("NEW_REQ", "RECOMPETE", "LOGICAL_FOLLOW_ON"),
    "agreementtype": ("CONTRACT", "GRANT", "DIRECT_OBLIGATION", "IAA", "AA"),
    "budgetlineitemstatus": ("DRAFT", "PLANNED", "IN_EXECUTION", "OBLIGATED", "PLANNED_MOD"),
    "canfundingsource": ("OPRE", "ACF", "ACF_MOU", "HHS", "OTHER"),
    "canhistorytype": (
        "CAN_DATA_IMPORT", "CAN_NICKNAME_EDITED", "CAN_DESCRIPTION_EDITED", "CAN_FUNDING_CREATED",
        "CAN_RECEIVED_CREATED", "CAN_FUNDING_EDITED", "CAN_RECEIVED_EDITED", "CAN_FUNDING_DELETED",
        "CAN_RECEIVED_DELETED", "CAN_PORTFOLIO_CREATED", "CAN_PORTFOLIO_DELETED", "CAN_PORTFOLIO_EDITED",
        "CAN_DIVISION_CREATED", "CAN_DIVISION_DELETED", "CAN_DIVISION_EDITED", "CAN_CARRY_FORWARD_CALCULATED",
        "CAN_FUNDING_DETAILS_EDITED",
    ),
    "canmethodoftransfer": ("DIRECT", "COST_SHARE", "IAA", "IDDA", "OTHER"),
    "contacttype": ("FINANCIAL", "CONTRACT", "CUSTOMER"),
    "contractcategory": ("RESEARCH", "SERVICE"),
    "contracttype": (
        "FIRM_FIXED_PRICE", "TIME_AND_MATERIALS", "COST_PLUS_FIXED_FEE", "COST_PLUS_AWARD_FEE", "HYBRID",
    ),
    "iaadirectiontype": ("INCOMING", "OUTGOING"),
    "modtype": ("NEW", "ADMIN", "AMOUNT_TBD", "AS_IS", "REPLACEMENT_AMOUNT_FINAL"),
    "opsdbhistorytype": ("NEW", "UPDATED", "DELETED", "ERROR"),
    "opseventstatus": ("SUCCESS", "FAILED", "UNKNOWN"),
    "opseventtype": (
        "CREATE_BLI", "UPDATE_BLI", "DELETE_BLI", "SEND_BLI_FOR_APPROVAL", "CREATE_PROJECT", "UPDATE_PROJECT",
        "GET_AGREEMENT", "CREATE_NEW_AGREEMENT", "UPDATE_AGREEMENT", "DELETE_AGREEMENT", "CREATE_NEW_CAN",
        "UPDATE_CAN", "DELETE_CAN", "CREATE_CAN_FUNDING_RECEIVED", "UPDATE_CAN_FUNDING_RECEIVED",
        "DELETE_CAN_FUNDING_RECEIVED", "CREATE_CAN_FUNDING_BUDGET", "UPDATE_CAN_FUNDING_BUDGET",
        "DELETE_CAN_FUNDING_BUDGET", "CREATE_CAN_FUNDING_DETAILS", "UPDATE_CAN_FUNDING_DETAILS",
        "DELETE_CAN_FUNDING_DETAILS", "ACKNOWLEDGE_NOTIFICATION", "CREATE_BLI_PACKAGE", "UPDATE_BLI_PACKAGE",
        "CREATE_SERVICES_COMPONENT", "UPDATE_SERVICES_COMPONENT", "DELETE_SERVICES_COMPONENT",
        "CREATE_PROCUREMENT_ACQUISITION_PLANNING", "UPDATE_PROCUREMENT_ACQUISITION_PLANNING",
        "DELETE_PROCUREMENT_ACQUISITION_PLANNING", "CREATE_DOCUMENT", "UPDATE_DOCUMENT", "LOGIN_ATTEMPT",
        "LOGOUT", "IDLE_LOGOUT", "GET_USER_DETAILS", "CREATE_USER", "UPDATE_USER", "DEACTIVATE_USER",
        "CREATE_PORTFOLIO_URL", "UPDATE_PORTFOLIO_URL", "DELETE_PORTFOLIO_URL", "CREATE_CHANGE_REQUEST",
        "UPDATE_CHANGE_REQUEST", "DELETE_CHANGE_REQUEST", "CREATE_PROCUREMENT_SHOP",
        "UPDATE_PROCUREMENT_SHOP", "DELETE_PROCUREMENT_SHOP", "CREATE_ROLE", "UPDATE_ROLE", "DELETE_ROLE",
        "CREATE_USER_SESSION", "UPDATE_USER_SESSION", "DELETE_USER_SESSION", "CREATE_PROCUREMENT_TRACKER",
        "UPDATE_PROCUREMENT_TRACKER", "DELETE_PROCUREMENT_TRACKER", "UPDATE_PROCUREMENT_TRACKER_STEP",
        "CREATE_PROCUREMENT_ACTION", "UPDATE_PROCUREMENT_ACTION", "DELETE_PROCUREMENT_ACTION",
        "CREATE_GRANT_NUMBER", "UPDATE_GRANT_NUMBER", "DELETE_GRANT_NUMBER",
    ),
    "portfoliostatus": ("IN_PROCESS", "NOT_STARTED", "SANDBOX"),
    "projecthistorytype": (
        "PROJECT_CREATED", "PROJECT_TITLE_EDITED", "PROJECT_SHORT_TITLE_EDITED", "PROJECT_DESCRIPTION_EDITED",
        "PROJECT_URL_EDITED", "PROJECT_TYPE_EDITED", "PROJECT_TEAM_LEADER_ADDED",
        "PROJECT_TEAM_LEADER_REMOVED",
    ),
    "projecttype": ("RESEARCH", "ADMINISTRATIVE_AND_SUPPORT"),
    "servicerequirementtype": ("SEVERABLE", "NON_SEVERABLE"),
    "statecode": (
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
        "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
        "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "VT", "VA", "WA", "WV", "WI", "WY", "DC", "AS",
        "GU", "MP", "PR", "VI",
    ),
    "userstatus": ("ACTIVE", "INACTIVE", "LOCKED"),
    "vendortype": (
        "SMALL_BUSINESS", "EIGHT_A", "HUBZONE", "WOMAN_OWNED", "VETERAN_OWNED", "SERVICE_DISABLED_VETERAN_OWNED",
        "LARGE_BUSINESS", "OTHER",
    ),
}


class OpsBase(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


def _enum(name: str) -> Enum:
    return Enum(*ENUMS[name], name=name, schema=SCHEMA, create_type=False)


def _jsonb():
    return JSON().with_variant(JSONB(), "postgresql")


def _integer_array():
    return ARRAY(Integer).with_variant(JSON(), "sqlite")


def _string_array():
    """``character varying[]`` on PostgreSQL; a JSON list on SQLite."""
    return ARRAY(String).with_variant(JSON(), "sqlite")


def _utcnow() -> dt.datetime:
    """Now in UTC, naive: OPS's timestamps are ``timestamp without time zone``, written as UTC."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Division(OpsBase):
    __tablename__ = "division"
    # division <-> ops_user is a cycle (directors, audit columns); these FKs come last (use_alter).
    __table_args__ = (
        UniqueConstraint("abbreviation", name="division_abbreviation_key"),
        UniqueConstraint("name", name="division_name_key"),
    )
    id = mapped_column(Integer, Sequence("division_id_seq", schema="ops", optional=True), primary_key=True)
    name = mapped_column(String(100), nullable=False)
    abbreviation = mapped_column(String(10), nullable=False)
    division_director_id = mapped_column(
        Integer, ForeignKey("ops.ops_user.id", name="division_division_director_id_fkey", use_alter=True),
        nullable=True)
    deputy_division_director_id = mapped_column(
        Integer, ForeignKey("ops.ops_user.id", name="division_deputy_division_director_id_fkey", use_alter=True),
        nullable=True)
    created_by = mapped_column(
        Integer, ForeignKey("ops.ops_user.id", name="division_created_by_fkey", use_alter=True), nullable=True)
    updated_by = mapped_column(
        Integer, ForeignKey("ops.ops_user.id", name="division_updated_by_fkey", use_alter=True), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class Portfolio(OpsBase):
    __tablename__ = "portfolio"
    id = mapped_column(Integer, Sequence("portfolio_id_seq", schema="ops", optional=True), primary_key=True)
    name = mapped_column(String, nullable=False)
    abbreviation = mapped_column(String, nullable=True)
    status = mapped_column(_enum("portfoliostatus"), nullable=True)
    division_id = mapped_column(Integer, ForeignKey("ops.division.id"), nullable=False)
    description = mapped_column(Text, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class User(OpsBase):
    __tablename__ = "ops_user"
    __table_args__ = (
        Index("ix_ops_user_oidc_id", "oidc_id", unique=True),
    )
    id = mapped_column(Integer, Sequence("ops_user_id_seq", schema="ops", optional=True), primary_key=True)
    oidc_id = mapped_column(Uuid(), nullable=True)
    hhs_id = mapped_column(String, nullable=True)
    email = mapped_column(String, nullable=False)
    first_name = mapped_column(String, nullable=True)
    last_name = mapped_column(String, nullable=True)
    division = mapped_column(Integer, ForeignKey("ops.division.id"), nullable=True)
    status = mapped_column(_enum("userstatus"), nullable=False, server_default=text("'INACTIVE'"))
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class Role(OpsBase):
    """OPS's roles (seeded reference data: SYSTEM_OWNER, VIEWER_EDITOR, ...); read, never written."""
    __tablename__ = "role"
    __table_args__ = (
        Index("ix_role_name", "name"),
    )
    id = mapped_column(Integer, Sequence("role_id_seq", schema="ops", optional=True), primary_key=True)
    name = mapped_column(String, nullable=False)
    permissions = mapped_column(_string_array(), nullable=False)  # OPS's server default: '{}'
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class UserRole(OpsBase):
    """A role granted to a user: OPS's association table, keyed by (user_id, role_id), no id."""
    __tablename__ = "user_role"
    user_id = mapped_column(Integer, ForeignKey("ops.ops_user.id"), primary_key=True)
    role_id = mapped_column(Integer, ForeignKey("ops.role.id"), primary_key=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class Project(OpsBase):
    __tablename__ = "project"
    id = mapped_column(Integer, Sequence("project_id_seq", schema="ops", optional=True), primary_key=True)
    project_type = mapped_column(_enum("projecttype"), nullable=False)
    title = mapped_column(String, nullable=False)
    short_title = mapped_column(String, nullable=True)
    description = mapped_column(Text, nullable=False, default="")
    url = mapped_column(Text, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)
    __mapper_args__ = {"polymorphic_on": project_type, "polymorphic_abstract": True}


class ResearchProject(Project):
    __tablename__ = "research_project"
    id = mapped_column(Integer, ForeignKey("ops.project.id"), primary_key=True)
    origination_date = mapped_column(Date, nullable=True)
    __mapper_args__ = {"polymorphic_identity": "RESEARCH"}


class AdministrativeAndSupportProject(Project):
    __tablename__ = "administrative_and_support_project"
    id = mapped_column(Integer, ForeignKey("ops.project.id"), primary_key=True)
    __mapper_args__ = {"polymorphic_identity": "ADMINISTRATIVE_AND_SUPPORT"}


class CANFundingDetails(OpsBase):
    __tablename__ = "can_funding_details"
    id = mapped_column(Integer, Sequence("can_funding_details_id_seq", schema="ops", optional=True),
                       primary_key=True)
    fiscal_year = mapped_column(Integer, nullable=False)
    fund_code = mapped_column(String, nullable=False)
    allowance = mapped_column(String, nullable=True)
    sub_allowance = mapped_column(String, nullable=True)
    allotment = mapped_column(String, nullable=True)
    appropriation = mapped_column(String, nullable=True)
    method_of_transfer = mapped_column(_enum("canmethodoftransfer"), nullable=True)
    funding_source = mapped_column(_enum("canfundingsource"), nullable=True)
    funding_partner = mapped_column(String, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class CAN(OpsBase):
    __tablename__ = "can"
    __table_args__ = (
        UniqueConstraint("number", name="can_number_key"),
    )
    id = mapped_column(Integer, Sequence("can_id_seq", schema="ops", optional=True), primary_key=True)
    number = mapped_column(String(30), nullable=False)
    description = mapped_column(String, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)
    nick_name = mapped_column(String, nullable=True)
    funding_details_id = mapped_column(Integer, ForeignKey("ops.can_funding_details.id"), nullable=True)
    portfolio_id = mapped_column(Integer, ForeignKey("ops.portfolio.id"), nullable=False)


class ProcurementShop(OpsBase):
    __tablename__ = "procurement_shop"
    id = mapped_column(Integer, Sequence("procurement_shop_id_seq", schema="ops", optional=True), primary_key=True)
    name = mapped_column(String, nullable=False)
    abbr = mapped_column(String, nullable=False)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class ProcurementShopFee(OpsBase):
    __tablename__ = "procurement_shop_fee"
    __table_args__ = (
        UniqueConstraint("procurement_shop_id", "start_date", "end_date",
                         name="procurement_shop_fee_unique_active_period"),
    )
    id = mapped_column(Integer, Sequence("procurement_shop_fee_id_seq", schema="ops", optional=True), primary_key=True)
    procurement_shop_id = mapped_column(Integer, ForeignKey("ops.procurement_shop.id"), nullable=False)
    fee = mapped_column(Numeric(12, 2), nullable=True, default=0)
    start_date = mapped_column(Date, nullable=True)
    end_date = mapped_column(Date, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class Vendor(OpsBase):
    __tablename__ = "vendor"
    id = mapped_column(Integer, Sequence("vendor_id_seq", schema="ops", optional=True), primary_key=True)
    name = mapped_column(String, nullable=False)
    duns = mapped_column(String, nullable=True)
    active = mapped_column(Boolean, nullable=False, default=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)
    vendor_type = mapped_column(_enum("vendortype"), nullable=True)


class Contact(OpsBase):
    __tablename__ = "contact"
    id = mapped_column(Integer, Sequence("contact_id_seq", schema="ops", optional=True), primary_key=True)
    first_name = mapped_column(String, nullable=True)
    last_name = mapped_column(String, nullable=True)
    middle_name = mapped_column(String, nullable=True)
    address = mapped_column(String, nullable=True)
    city = mapped_column(String, nullable=True)
    state = mapped_column(String, nullable=True)
    zip = mapped_column(String, nullable=True)
    phone_area_code = mapped_column(String, nullable=True)
    phone_number = mapped_column(String, nullable=True)
    email = mapped_column(String, nullable=True)
    contact_type = mapped_column(_enum("contacttype"), nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class VendorContacts(OpsBase):
    __tablename__ = "vendor_contacts"
    vendor_id = mapped_column(Integer, ForeignKey("ops.vendor.id"), primary_key=True)
    contact_id = mapped_column(Integer, ForeignKey("ops.contact.id"), primary_key=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class ObjectClassCode(OpsBase):
    __tablename__ = "object_class_code"
    id = mapped_column(Integer, Sequence("object_class_code_id_seq", schema="ops", optional=True), primary_key=True)
    code = mapped_column(Integer, nullable=True)
    description = mapped_column(String, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class IAACustomerAgency(OpsBase):
    __tablename__ = "iaa_customer_agency"
    id = mapped_column(Integer, Sequence("iaa_customer_agency_id_seq", schema="ops", optional=True),
                       primary_key=True)
    name = mapped_column(String, nullable=False)
    customer_duns = mapped_column(String, nullable=True)
    object_class_code_id = mapped_column(Integer, ForeignKey("ops.object_class_code.id"), nullable=True)
    customer_agency_nbr = mapped_column(String, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class AgreementAgency(OpsBase):
    __tablename__ = "agreement_agency"
    __table_args__ = (
        UniqueConstraint("abbreviation", name="agreement_agency_abbreviation_key"),
        UniqueConstraint("name", name="agreement_agency_name_key"),
    )
    id = mapped_column(Integer, Sequence("agreement_agency_id_seq", schema="ops", optional=True), primary_key=True)
    name = mapped_column(String, nullable=False)
    abbreviation = mapped_column(String, nullable=True)
    requesting = mapped_column(Boolean, nullable=False, default=False)
    servicing = mapped_column(Boolean, nullable=False, default=False)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class ProductServiceCode(OpsBase):
    """Seeded reference data (a contract's PSC, which MAPS gives as the NAICS code)."""
    __tablename__ = "product_service_code"
    id = mapped_column(Integer, Sequence("product_service_code_id_seq", schema="ops", optional=True),
                       primary_key=True)
    name = mapped_column(String, nullable=False)
    naics = mapped_column(Integer, nullable=True)
    support_code = mapped_column(String, nullable=True)
    description = mapped_column(String, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class Agreement(OpsBase):
    __tablename__ = "agreement"
    __table_args__ = (
        UniqueConstraint("nick_name", name="agreement_nick_name_key"),
    )
    id = mapped_column(Integer, Sequence("agreement_id_seq", schema="ops", optional=True), primary_key=True)
    agreement_type = mapped_column(_enum("agreementtype"), nullable=False)
    name = mapped_column(String, nullable=False)
    description = mapped_column(String, nullable=True)
    product_service_code_id = mapped_column(Integer, ForeignKey("ops.product_service_code.id"), nullable=True)
    agreement_reason = mapped_column(_enum("agreementreason"), nullable=True)
    project_officer_id = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    project_id = mapped_column(Integer, ForeignKey("ops.project.id"), nullable=True)
    awarding_entity_id = mapped_column(Integer, ForeignKey("ops.procurement_shop.id"), nullable=True)
    notes = mapped_column(Text, nullable=False, default="")
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)
    start_date = mapped_column(Date, nullable=True)
    end_date = mapped_column(Date, nullable=True)
    maps_sys_id = mapped_column(Integer, nullable=True)
    alternate_project_officer_id = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    nick_name = mapped_column(String, nullable=True)
    service_requirement_type = mapped_column(_enum("servicerequirementtype"), nullable=True)
    __mapper_args__ = {"polymorphic_on": agreement_type, "polymorphic_abstract": True}


class ContractAgreement(Agreement):
    __tablename__ = "contract_agreement"
    id = mapped_column(Integer, ForeignKey("ops.agreement.id"), primary_key=True)
    contract_number = mapped_column(String, nullable=True)
    vendor_id = mapped_column(Integer, nullable=True)
    task_order_number = mapped_column(String, nullable=True)
    po_number = mapped_column(String, nullable=True)
    acquisition_type = mapped_column(_enum("acquisitiontype"), nullable=True)
    delivered_status = mapped_column(Boolean, nullable=False, default=False)
    contract_type = mapped_column(_enum("contracttype"), nullable=True)
    contract_category = mapped_column(_enum("contractcategory"), nullable=True)
    psc_contract_specialist = mapped_column(String, nullable=True)
    cotr_id = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    __mapper_args__ = {"polymorphic_identity": "CONTRACT"}


class GrantAgreement(Agreement):
    __tablename__ = "grant_agreement"
    id = mapped_column(Integer, ForeignKey("ops.agreement.id"), primary_key=True)
    foa = mapped_column(String, nullable=True)
    total_funding = mapped_column(Numeric(12, 2), nullable=True)
    number_of_years = mapped_column(Integer, nullable=True)
    number_of_grants = mapped_column(Integer, nullable=True)
    nofo_number = mapped_column(String, nullable=True)
    funding_period_months = mapped_column(Integer, nullable=True)
    aln_numbers = mapped_column(_integer_array(), nullable=True)
    __mapper_args__ = {"polymorphic_identity": "GRANT"}


class IaaAgreement(Agreement):
    __tablename__ = "iaa_agreement"
    id = mapped_column(Integer, ForeignKey("ops.agreement.id"), primary_key=True)
    direction = mapped_column(_enum("iaadirectiontype"), nullable=False)
    iaa_customer_agency_id = mapped_column(Integer, nullable=True)
    opre_poc = mapped_column(String, nullable=True)
    agency_poc = mapped_column(String, nullable=True)
    __mapper_args__ = {"polymorphic_identity": "IAA"}


class DirectAgreement(Agreement):
    __tablename__ = "direct_agreement"
    id = mapped_column(Integer, ForeignKey("ops.agreement.id"), primary_key=True)
    __mapper_args__ = {"polymorphic_identity": "DIRECT_OBLIGATION"}


class AaAgreement(Agreement):
    __tablename__ = "aa_agreement"
    id = mapped_column(Integer, ForeignKey("ops.agreement.id"), primary_key=True)
    requesting_agency_id = mapped_column(Integer, ForeignKey("ops.agreement_agency.id"), nullable=False)
    servicing_agency_id = mapped_column(Integer, ForeignKey("ops.agreement_agency.id"), nullable=False)
    contract_number = mapped_column(String, nullable=True)
    vendor_id = mapped_column(Integer, nullable=True)
    task_order_number = mapped_column(String, nullable=True)
    po_number = mapped_column(String, nullable=True)
    acquisition_type = mapped_column(_enum("acquisitiontype"), nullable=True)
    delivered_status = mapped_column(Boolean, nullable=False, default=False)
    contract_type = mapped_column(_enum("contracttype"), nullable=True)
    contract_category = mapped_column(_enum("contractcategory"), nullable=True)
    psc_contract_specialist = mapped_column(String, nullable=True)
    cotr_id = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    __mapper_args__ = {"polymorphic_identity": "AA"}


class ServicesComponent(OpsBase):
    __tablename__ = "services_component"
    __table_args__ = (
        Index("ix_services_component_unique_null_subcomponent", "agreement_id", "number", "optional", unique=True,
              postgresql_where=text("sub_component IS NULL"), sqlite_where=text("sub_component IS NULL")),
        Index("ix_services_component_unique_with_subcomponent", "agreement_id", "number", "sub_component", "optional",
              unique=True, postgresql_where=text("sub_component IS NOT NULL"),
              sqlite_where=text("sub_component IS NOT NULL")),
    )
    id = mapped_column(Integer, Sequence("services_component_id_seq", schema="ops", optional=True), primary_key=True)
    number = mapped_column(Integer, nullable=False)
    optional = mapped_column(Boolean, nullable=False, default=False)
    description = mapped_column(String, nullable=True)
    period_start = mapped_column(Date, nullable=True)
    period_end = mapped_column(Date, nullable=True)
    sub_component = mapped_column(String, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)
    display_name_for_sort = mapped_column(String, nullable=True)
    agreement_id = mapped_column(Integer, ForeignKey("ops.agreement.id", ondelete="CASCADE"), nullable=False)


class GrantBudgetLineItemDetail(OpsBase):
    """A grant line's grantee details, shared by the lines naming the same grant, grantee,
    institution flag and state (MAPS's loader keys them so)."""
    __tablename__ = "grant_budget_line_item_detail"
    id = mapped_column(Integer, Sequence("grant_budget_line_item_detail_id_seq", schema="ops", optional=True),
                       primary_key=True)
    grants_number = mapped_column(String, nullable=True)
    grantee_name = mapped_column(String, nullable=True)
    educational_institution = mapped_column(Boolean, nullable=True)
    state_code = mapped_column(_enum("statecode"), nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class AgreementMod(OpsBase):
    """A modification of an agreement (MAPS: a contract line's MOD_NBR and its type)."""
    __tablename__ = "agreement_mod"
    id = mapped_column(Integer, Sequence("agreement_mod_id_seq", schema="ops", optional=True), primary_key=True)
    agreement_id = mapped_column(Integer, ForeignKey("ops.agreement.id"), nullable=False)
    mod_type = mapped_column(_enum("modtype"), nullable=True)
    number = mapped_column(String, nullable=True)
    mod_date = mapped_column(Date, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class CLIN(OpsBase):
    """A contract line item number (MAPS: SYS_CLIN_ID, below 5000, is its id)."""
    __tablename__ = "clin"
    __table_args__ = (
        UniqueConstraint("number", "agreement_id", name="clin_number_agreement_id_key"),
    )
    id = mapped_column(Integer, Sequence("clin_id_seq", schema="ops", optional=True), primary_key=True)
    number = mapped_column(Integer, nullable=True)
    name = mapped_column(String, nullable=True)
    pop_start_date = mapped_column(Date, nullable=True)
    pop_end_date = mapped_column(Date, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)
    agreement_id = mapped_column(Integer, ForeignKey("ops.agreement.id", ondelete="CASCADE"), nullable=False)


class BudgetLineItem(OpsBase):
    __tablename__ = "budget_line_item"
    id = mapped_column(Integer, Sequence("budget_line_item_id_seq", schema="ops", optional=True), primary_key=True)
    line_description = mapped_column(String, nullable=True)
    comments = mapped_column(Text, nullable=True)
    agreement_id = mapped_column(Integer, ForeignKey("ops.agreement.id"), nullable=True)
    can_id = mapped_column(Integer, ForeignKey("ops.can.id"), nullable=True)
    amount = mapped_column(Numeric(12, 2), nullable=True)
    status = mapped_column(_enum("budgetlineitemstatus"), nullable=True, default="DRAFT")
    on_hold = mapped_column(Boolean, nullable=False, default=False)
    certified = mapped_column(Boolean, nullable=False, default=False)
    closed = mapped_column(Boolean, nullable=False, default=False)
    is_under_current_resolution = mapped_column(Boolean, nullable=True, default=False)
    date_needed = mapped_column(Date, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)
    closed_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    closed_date = mapped_column(Date, nullable=True)
    extend_pop_to = mapped_column(Date, nullable=True)
    start_date = mapped_column(Date, nullable=True)
    end_date = mapped_column(Date, nullable=True)
    object_class_code_id = mapped_column(Integer, ForeignKey("ops.object_class_code.id"), nullable=True)
    doc_received = mapped_column(Boolean, nullable=True, default=False)
    obligation_date = mapped_column(Date, nullable=True)
    budget_line_item_type = mapped_column(_enum("agreementtype"), nullable=False, default="CONTRACT")
    proc_shop_fee_percentage = mapped_column(Numeric(12, 5), nullable=True)
    procurement_shop_fee_id = mapped_column(Integer, ForeignKey("ops.procurement_shop_fee.id"), nullable=True)
    service_component_name_for_sort = mapped_column(String, nullable=True)
    is_obe = mapped_column(Boolean, nullable=True, default=False)
    services_component_id = mapped_column(Integer, ForeignKey("ops.services_component.id", ondelete="SET NULL"),
                                          nullable=True)
    clin_id = mapped_column(Integer, ForeignKey("ops.clin.id"), nullable=True)
    procurement_action_id = mapped_column(Integer, nullable=True)
    __mapper_args__ = {"polymorphic_on": budget_line_item_type, "polymorphic_abstract": True}


class ContractBudgetLineItem(BudgetLineItem):
    __tablename__ = "contract_budget_line_item"
    id = mapped_column(Integer, ForeignKey("ops.budget_line_item.id"), primary_key=True)
    mod_id = mapped_column(Integer, ForeignKey("ops.agreement_mod.id"), nullable=True)
    psc_fee_doc_number = mapped_column(String, nullable=True)
    psc_fee_pymt_ref_nbr = mapped_column(String, nullable=True)
    __mapper_args__ = {"polymorphic_identity": "CONTRACT"}


class GrantBudgetLineItem(BudgetLineItem):
    __tablename__ = "grant_budget_line_item"
    id = mapped_column(Integer, ForeignKey("ops.budget_line_item.id"), primary_key=True)
    grant_year_number = mapped_column(Integer, nullable=True)
    bns_number = mapped_column(String, nullable=True)
    committed_date = mapped_column(Date, nullable=True)
    fa_signed_date = mapped_column(Date, nullable=True)
    details_id = mapped_column(Integer, ForeignKey("ops.grant_budget_line_item_detail.id"), nullable=True)
    grant_number_id = mapped_column(Integer, nullable=True)
    __mapper_args__ = {"polymorphic_identity": "GRANT"}


class IAABudgetLineItem(BudgetLineItem):
    __tablename__ = "iaa_budget_line_item"
    id = mapped_column(Integer, ForeignKey("ops.budget_line_item.id"), primary_key=True)
    ip_nbr = mapped_column(String, nullable=True)
    __mapper_args__ = {"polymorphic_identity": "IAA"}


class DirectObligationBudgetLineItem(BudgetLineItem):
    __tablename__ = "direct_obligation_budget_line_item"
    id = mapped_column(Integer, ForeignKey("ops.budget_line_item.id"), primary_key=True)
    receiving_agency = mapped_column(String, nullable=True)
    ip_nbr = mapped_column(String, nullable=True)
    __mapper_args__ = {"polymorphic_identity": "DIRECT_OBLIGATION"}


class AABudgetLineItem(BudgetLineItem):
    __tablename__ = "aa_budget_line_item"
    id = mapped_column(Integer, ForeignKey("ops.budget_line_item.id"), primary_key=True)
    mod_id = mapped_column(Integer, ForeignKey("ops.agreement_mod.id"), nullable=True)
    psc_fee_doc_number = mapped_column(String, nullable=True)
    psc_fee_pymt_ref_nbr = mapped_column(String, nullable=True)
    __mapper_args__ = {"polymorphic_identity": "AA"}


class Invoice(OpsBase):
    """An invoice line of a budget line (MAPS: a contract line's INVOICE_LINE_NBR)."""
    __tablename__ = "invoice"
    id = mapped_column(Integer, Sequence("invoice_id_seq", schema="ops", optional=True), primary_key=True)
    budget_line_item_id = mapped_column(Integer, ForeignKey("ops.budget_line_item.id"), nullable=True)
    invoice_line_number = mapped_column(Integer, nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class OpsEvent(OpsBase):
    __tablename__ = "ops_event"
    id = mapped_column(Integer, Sequence("ops_event_id_seq", schema="ops", optional=True), primary_key=True)
    event_type = mapped_column(_enum("opseventtype"), nullable=True)
    event_status = mapped_column(_enum("opseventstatus"), nullable=True)
    event_details = mapped_column(_jsonb(), nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class OpsDBHistory(OpsBase):
    __tablename__ = "ops_db_history"
    id = mapped_column(Integer, Sequence("ops_db_history_id_seq", schema="ops", optional=True), primary_key=True)
    event_type = mapped_column(_enum("opsdbhistorytype"), nullable=True)
    event_details = mapped_column(_jsonb(), nullable=True)
    class_name = mapped_column(String, nullable=True)
    row_key = mapped_column(String, nullable=True)
    changes = mapped_column(_jsonb(), nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class AgreementHistory(OpsBase):
    __tablename__ = "agreement_history"
    id = mapped_column(Integer, Sequence("agreement_history_id_seq", schema="ops", optional=True), primary_key=True)
    agreement_id = mapped_column(Integer, ForeignKey("ops.agreement.id", ondelete="SET NULL"), nullable=True)
    agreement_id_record = mapped_column(Integer, nullable=False)
    budget_line_id = mapped_column(Integer, ForeignKey("ops.budget_line_item.id", ondelete="SET NULL"), nullable=True)
    budget_line_id_record = mapped_column(Integer, nullable=True)
    ops_event_id = mapped_column(Integer, ForeignKey("ops.ops_event.id", ondelete="SET NULL"), nullable=True)
    history_title = mapped_column(String, nullable=False)
    history_message = mapped_column(Text, nullable=False)
    timestamp = mapped_column(String, nullable=False)
    history_type = mapped_column(_enum("agreementhistorytype"), nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


class CANHistory(OpsBase):
    __tablename__ = "can_history"
    id = mapped_column(Integer, Sequence("can_history_id_seq", schema="ops", optional=True), primary_key=True)
    can_id = mapped_column(Integer, ForeignKey("ops.can.id"), nullable=False)
    ops_event_id = mapped_column(Integer, ForeignKey("ops.ops_event.id"), nullable=False)
    history_title = mapped_column(String, nullable=False)
    history_message = mapped_column(Text, nullable=False)
    timestamp = mapped_column(String, nullable=False)
    history_type = mapped_column(_enum("canhistorytype"), nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)
    fiscal_year = mapped_column(Integer, nullable=False)


class ProjectHistory(OpsBase):
    __tablename__ = "project_history"
    id = mapped_column(Integer, Sequence("project_history_id_seq", schema="ops", optional=True), primary_key=True)
    project_id = mapped_column(Integer, ForeignKey("ops.project.id", ondelete="SET NULL"), nullable=True)
    project_id_record = mapped_column(Integer, nullable=False)
    ops_event_id = mapped_column(Integer, ForeignKey("ops.ops_event.id", ondelete="SET NULL"), nullable=True)
    history_title = mapped_column(String, nullable=False)
    history_message = mapped_column(Text, nullable=False)
    timestamp = mapped_column(String, nullable=False)
    history_type = mapped_column(_enum("projecthistorytype"), nullable=True)
    created_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    updated_by = mapped_column(Integer, ForeignKey("ops.ops_user.id"), nullable=True)
    created_on = mapped_column(DateTime(), nullable=True, default=_utcnow)
    updated_on = mapped_column(DateTime(), nullable=True, default=_utcnow, onupdate=_utcnow)


Index("ix_agreement_name_type_lower", func.lower(Agreement.name), Agreement.agreement_type, unique=True)

#: Foreign keys OPS has on declared columns that are not declared here (their target table is not
#: declared, or was declared later than the column and the column was left as it was), as
#: ``(table, column, referenced table, referenced column, ON DELETE action or None)``.
UNDECLARED_FOREIGN_KEYS = (
    ('contract_agreement', 'vendor_id', 'vendor', 'id', None),
    ('iaa_agreement', 'iaa_customer_agency_id', 'iaa_customer_agency', 'id', None),
    ('aa_agreement', 'vendor_id', 'vendor', 'id', None),
    ('budget_line_item', 'procurement_action_id', 'procurement_action', 'id', None),
    ('grant_budget_line_item', 'grant_number_id', 'grant_number', 'id', 'SET NULL'),
)

#: Continuum's ``transaction`` table: one row per database transaction that changed versioned rows.
transaction_table = Table(
    "transaction",
    OpsBase.metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"),
           Sequence("transaction_id_seq", schema=SCHEMA, optional=True), primary_key=True),
    Column("remote_addr", String(50), nullable=True),
    Column("issued_at", DateTime(), nullable=True),
)

#: The three columns Continuum adds to every ``<table>_version`` table.
VERSION_COLUMNS = ("transaction_id", "end_transaction_id", "operation_type")
#: ``operation_type`` values.
OPERATION_INSERT, OPERATION_UPDATE, OPERATION_DELETE = 0, 1, 2

#: The declared base tables, in dependency order (parents before subtypes), without ``transaction``.
BASE_TABLES: tuple[Table, ...] = tuple(
    t for t in OpsBase.metadata.sorted_tables if t is not transaction_table)


#: Version-table columns whose type differs from the base table's in OPS's database (its
#: migrations left ``vendor_version.vendor_type`` as text while ``vendor.vendor_type`` is the enum).
VERSION_COLUMN_TYPES = {("vendor", "vendor_type"): String()}


def _make_version_table(base: Table) -> Table:
    columns = [
        Column(c.name, VERSION_COLUMN_TYPES.get((base.name, c.name), c.type), primary_key=c.primary_key,
               nullable=c.primary_key is False, autoincrement=False)
        for c in base.columns
    ]
    columns += [
        Column("transaction_id", BigInteger, primary_key=True, autoincrement=False),
        Column("end_transaction_id", BigInteger, nullable=True),
        Column("operation_type", SmallInteger, nullable=False),
    ]
    name = f"{base.name}_version"
    table = Table(name, base.metadata, *columns)
    for column in VERSION_COLUMNS:
        Index(f"ix_{name}_{column}", table.c[column])
    return table


_VERSIONS: dict[str, Table] = {t.name: _make_version_table(t) for t in BASE_TABLES}


def version_table(table_or_name: Table | str) -> Table:
    """The Continuum ``<name>_version`` table of a declared OPS table (a Table or its name)."""
    name = table_or_name if isinstance(table_or_name, str) else table_or_name.name
    if name.startswith(f"{SCHEMA}."):
        name = name[len(SCHEMA) + 1:]
    try:
        return _VERSIONS[name]
    except KeyError:
        raise KeyError(f"no declared OPS table {name!r} has a version table") from None


#: The OPS tables the pipeline only reads (seeded reference data).
READ_TABLES = ("division", "portfolio", "role", "product_service_code", "object_class_code")
#: The OPS tables the pipeline writes: entities (parents and subtypes), its system user, the
#: history it records (events, audit log, history lines), Continuum's transaction table and the
#: version table of each. ``check_ops_schema`` verifies these before a load.
WRITTEN_TABLES: tuple[str, ...] = tuple(
    [t.name for t in BASE_TABLES if t.name not in READ_TABLES]
    + ["transaction"]
    + [_VERSIONS[t.name].name for t in BASE_TABLES if t.name not in READ_TABLES]
)


def table(name: str) -> Table:
    """A declared OPS table (base, version or ``transaction``) by its unqualified name."""
    return OpsBase.metadata.tables[f"{SCHEMA}.{name}"]


# -- the embedded OPS subset (SQLite) -----------------------------------------------------------


def create_subset(conn: Connection) -> None:
    """Create the OPS subset on SQLite and seed OPS's reference divisions, portfolios and roles.

    Creates every declared table, its version table and ``transaction`` (those missing), then
    inserts the rows OPS's initial data has (:mod:`.ops_reference`) that are not there yet, with
    their ``_version`` rows and ``transaction`` 1 as upstream seeds them. Safe to run again. Runs in
    the caller's transaction. PostgreSQL is refused: there OPS's migrations own these tables.
    """
    if conn.dialect.name != "sqlite":
        raise DatabaseError(
            f"the pipeline creates OPS's tables only on SQLite, not on {conn.dialect.name}",
            hint="create OPS's schema with OPS's own migrations (alembic upgrade head)")
    mapping = dict(conn.get_execution_options().get("schema_translate_map") or {})
    if mapping.get(SCHEMA, SCHEMA) is not None:  # SQLite has no schemas: name the tables bare
        mapping[SCHEMA] = None
        conn.execution_options(schema_translate_map=mapping)
    OpsBase.metadata.create_all(conn)
    seed_reference_rows(conn)


def seed_reference_rows(conn: Connection) -> None:
    """Insert OPS's reference divisions, portfolios, roles, product service codes and object class
    codes (and their version rows) that are missing."""
    ref = ops_reference
    tx = transaction_table
    if conn.execute(select(tx.c.id).where(tx.c.id == ref.SEED_TRANSACTION_ID)).first() is None:
        conn.execute(insert(tx).values(id=ref.SEED_TRANSACTION_ID, remote_addr=None,
                                       issued_at=dt.datetime.fromisoformat(ref.SEED_TRANSACTION_ISSUED_AT)))
    now = _utcnow()
    audit = {"created_by": None, "updated_by": None, "created_on": now, "updated_on": now}
    divisions = [
        {"id": id_, "name": name, "abbreviation": abbr, "division_director_id": None,
         "deputy_division_director_id": None, **audit}
        for id_, name, abbr in ref.DIVISIONS
    ]
    portfolios = [
        {"id": id_, "name": name, "abbreviation": abbr, "status": status, "division_id": division,
         "description": description, **audit}
        for id_, name, abbr, status, division, description in ref.PORTFOLIOS
    ]
    portfolio_versions = [dict(row, name=ref.PORTFOLIO_VERSION_NAMES.get(row["id"], row["name"]))
                          for row in portfolios]
    roles = [{"id": id_, "name": name, "permissions": list(permissions), **audit}
             for id_, name, permissions in ref.ROLES]
    role_versions = [dict(row, permissions=[p for p in row["permissions"]
                                            if p not in ref.ROLE_VERSION_LACKS.get(row["id"], ())])
                     for row in roles]
    codes = [
        {"id": id_, "name": name, "naics": naics, "support_code": support, "description": description, **audit}
        for id_, name, naics, support, description in ref.PRODUCT_SERVICE_CODES
    ]
    object_codes = [{"id": id_, "code": code, "description": description, **audit}
                    for id_, code, description in ref.OBJECT_CLASS_CODES]
    for base, rows, version_rows in ((table("division"), divisions, divisions),
                                     (table("portfolio"), portfolios, portfolio_versions),
                                     (table("role"), roles, role_versions),
                                     (table("product_service_code"), codes, codes),
                                     (table("object_class_code"), object_codes, object_codes)):
        have = set(conn.scalars(select(base.c.id)))
        missing = [row for row in rows if row["id"] not in have]
        if missing:
            conn.execute(insert(base), missing)
        version = version_table(base)
        have = set(conn.scalars(select(version.c.id).where(version.c.transaction_id == ref.SEED_TRANSACTION_ID)))
        missing = [dict(row, transaction_id=ref.SEED_TRANSACTION_ID, end_transaction_id=None,
                        operation_type=OPERATION_INSERT)
                   for row in version_rows if row["id"] not in have]
        if missing:
            conn.execute(insert(version), missing)
