Feature: MAPS agreements: contracts, grants, IAAs and direct obligations
  MAPS exports each kind of agreement in its own file and numbers each kind from 1, so an agreement
  is found in OPS by its kind and its MAPS id together (contract 1 and grant 1 are two agreements).
  Projects, vendors, people and customer agencies are referred to by their MAPS ids, which are OPS's
  ids. A reference OPS does not have is reported with its cell and the agreement loads without it;
  nothing is dropped silently. An agreement someone created in OPS is never overwritten by MAPS.

  Background:
    Given OPS has the MAPS users 1-20, projects 1-10, vendors 1-10 and IAA customer agencies 1-5

  Scenario: The four agreement files of the export load, each agreement keyed by its kind and MAPS id
    When the MAPS files "contracts.tsv, grants.tsv, iaas.tsv, direct_obligations.tsv" of the small export go through the pipeline
    Then every load succeeds
    And OPS has 5 agreements of each kind: contract, grant, IAA and direct obligation
    And OPS has these agreements:
      | kind              | MAPS id | name                                | project | vendor | customer agency | PSC (NAICS) | COTR | start date | end date   |
      | contract          | 1       | Head Start Impact Follow-up         | 1       | 1      |                 | 541690      | 2    | 2020-09-30 | 2025-09-29 |
      | contract          | 3       | Evaluation of Employment Coaching   | 3       | 3      |                 |             | 7    | 2019-07-01 | 2024-06-30 |
      | grant             | 1       | Child Care Research Scholars        | 6       |        |                 |             |      | 2021-09-30 | 2023-09-29 |
      | IAA               | 1       | Census Survey of Income Supplement  | 8       |        | 1               |             |      |            |            |
      | direct obligation | 4       | Data License Renewal                |         |        |                 |             |      |            |            |
    And every IAA is outgoing
    And grant 5 has total funding 2400000.50 over 5 years for 3 grants

  Scenario: Loading the same export again changes nothing and records no history
    Given the MAPS file "contracts.tsv" of the small export has been loaded
    When the MAPS file "contracts.tsv" of the small export goes through the pipeline again
    Then every agreement of the second load is unchanged and OPS recorded no history for it

  Scenario: A changed cell updates the agreement; a blank cell keeps what OPS has
    Given the MAPS file "contracts.tsv" of the small export has been loaded
    When MAPS exports contract 1 again with vendor 6 and a blank CONTRACT_NBR
    Then contract 1 has vendor 6 and still has the contract number "HHSP233201500001I"
    And OPS recorded the event "UPDATE_AGREEMENT" for contract 1

  Scenario: A reference OPS does not have is a warning, and the agreement loads without it
    When a MAPS grants file with these rows goes through the pipeline:
      | GRANTS_TITLE      | SYS_GRANTS_ID | SYS_PROJECT_ID | OPRE_PROJECT_OFFICER_ID | GRANTS_START_DATE   |
      | Orphan Grant      | 11            | 888            | 450                     | 2021-09-30 00:00:00 |
    Then the load succeeds
    And the report has the finding "REF_UNRESOLVED" at grants.tsv:2:SYS_PROJECT_ID saying "project 888 is not in OPS"
    And the report has the finding "REF_UNRESOLVED" at grants.tsv:2:OPRE_PROJECT_OFFICER_ID saying "user 450 is not in OPS"
    And grant 11 has no project and no project officer

  Scenario: A contract's unknown vendor and PSC code are warnings too
    When a MAPS contracts file with these rows goes through the pipeline:
      | CONTRACT_NAME   | SYS_CONTRACT_ID | SYS_VENDOR_ID | PSC_CODE |
      | Unknown Vendor  | 11              | 99            | 111111   |
    Then the load succeeds
    And the report has the finding "REF_UNRESOLVED" at contracts.tsv:2:SYS_VENDOR_ID saying "vendor 99 is not in OPS"
    And the report has the finding "REF_UNRESOLVED" at contracts.tsv:2:PSC_CODE saying "111111 is not in OPS"

  Scenario: A row without its MAPS id is refused, never matched to an agreement created in OPS
    Given OPS has the contract "Created In OPS" that someone created in OPS
    When a MAPS contracts file with these rows goes through the pipeline:
      | CONTRACT_NAME   | SYS_CONTRACT_ID |
      | Created In OPS  |                 |
    Then the file has the error "missing-value" at contracts.tsv:2:SYS_CONTRACT_ID
    And the contract "Created In OPS" in OPS is unchanged

  Scenario: A MAPS agreement named like one created in OPS is a collision, not an overwrite
    Given OPS has the contract "Created In OPS" that someone created in OPS
    When a MAPS contracts file with these rows goes through the pipeline:
      | CONTRACT_NAME   | SYS_CONTRACT_ID |
      | created in ops  | 12              |
    Then the load is refused, nothing written, at contracts.tsv:2:CONTRACT_NAME saying "created in OPS"
    When the operator loads the rest with --accept-rejects
    Then the report has the finding "KEY_COLLISION" at contracts.tsv:2:CONTRACT_NAME saying "a load never overwrites it"
    And the contract "Created In OPS" in OPS is unchanged

  Scenario: The same MAPS id twice in a file is an error, never a silent last-wins
    When a MAPS direct obligations file with these rows goes through the pipeline:
      | DIRECT_OBLIGATION_NAME | SYS_DIRECT_OBLIGATION_ID |
      | First                  | 7                        |
      | Second                 | 7                        |
    Then the file has the error "KEY_DUPLICATE" at direct_obligations.tsv:3:SYS_DIRECT_OBLIGATION_ID

  Scenario Outline: Dates are read only in the form MAPS writes them for that file
    When a MAPS <kind> file has "<text>" in <column>
    Then the cell is <verdict>

    Examples:
      | kind      | column              | text                | verdict           |
      | contracts | CONTRACT_START_DATE | 2020-09-30          | read as 2020-09-30 |
      | contracts | CONTRACT_START_DATE | 2020-09-30 00:00:00 | an error "bad-date" |
      | contracts | CONTRACT_END_DATE   | 09/29/2025          | an error "bad-date" |
      | grants    | GRANTS_START_DATE   | 2021-09-30 00:00:00 | read as 2021-09-30 |
      | grants    | GRANTS_END_DATE     | 2021-09-30          | an error "bad-date" |

  Scenario Outline: Contract kinds must be named exactly as MAPS names them
    When a MAPS contracts file has "<text>" in <column>
    Then the cell is <verdict>

    Examples:
      | column           | text             | verdict             |
      | ACQUISITION_TYPE | TASK_ORDER       | read as TASK_ORDER  |
      | ACQUISITION_TYPE | task_order       | an error "BAD_ENUM" |
      | CONTRACT_TYPE    | FIRM_FIXED_PRICE | read as FIRM_FIXED_PRICE |
      | CONTRACT_TYPE    | FFP              | an error "BAD_ENUM" |
