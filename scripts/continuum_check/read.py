"""Scratch venv with SQLAlchemy-Continuum 1.7.0 (OPS's version): read the line's versions with Continuum."""
import sys
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Numeric, String, create_engine
from sqlalchemy.orm import Session, configure_mappers, declarative_base
from sqlalchemy_continuum import make_versioned
make_versioned(user_cls=None)
Base = declarative_base(metadata=MetaData(schema="ops"))
class BudgetLineItem(Base):
    __tablename__ = "budget_line_item"; __versioned__ = {}
    id = Column(Integer, primary_key=True)
    budget_line_item_type = Column(String)
    amount = Column(Numeric(12, 2)); line_description = Column(String); agreement_id = Column(Integer)
    __mapper_args__ = {"polymorphic_on": budget_line_item_type, "polymorphic_identity": "budget_line_item"}
class ContractBudgetLineItem(BudgetLineItem):
    __tablename__ = "contract_budget_line_item"; __versioned__ = {}
    id = Column(Integer, ForeignKey("ops.budget_line_item.id"), primary_key=True)
    mod_id = Column(Integer)
    __mapper_args__ = {"polymorphic_identity": "CONTRACT"}
configure_mappers()
engine = create_engine(sys.argv[1])
with Session(engine) as s:
    line = s.get(BudgetLineItem, int(sys.argv[2]))
    print(type(line).__name__, line.amount)
    versions = line.versions.all()
    for v in versions:
        print("version", type(v).__name__, v.transaction_id, v.end_transaction_id, v.operation_type, v.amount,
              "changeset:", v.changeset, "issued_at:", v.transaction.issued_at)
    print("previous of last:", versions[-1].previous.amount, "next of first:", versions[0].next.amount)
    assert [str(v.amount) for v in versions] == ["100.00", "200.00", "300.00"]
    assert versions[0].previous is None and versions[-1].next is None
    print("CONTINUUM OK")
