Feature: MAPS budget lines move into OPS under the right agreement, nothing lost silently
  MAPS exports its budget lines in four files, one per kind of agreement: contract, grant, IAA and
  direct obligation lines. Each line keeps its MAPS budget id as its OPS id, goes under the agreement
  of its own kind with the MAPS id the line names, and carries what MAPS knows about it (dates,
  flags, fee rate, grantee). Whatever cannot be taken as it is, is said, with the file, line and column.

  Background:
    Given OPS already holds the agreements, CANs and users of the small MAPS export

  Scenario: Each kind of line lands under the agreement of its own kind, with its MAPS id
    When the analyst loads the MAPS file "small/contract_budget_lines.tsv"
    Then OPS holds 6 contract budget lines with ids 1 to 6
    And budget line 3 is in OPS under the contract with MAPS id 2
    And budget line 3 is closed, certified and not on hold
    And budget line 1 has the amount 1250000.00 and the fee rate 0.005

  Scenario: Grant lines that name the same grantee share one set of grantee details
    When the analyst loads the MAPS file "small/grant_budget_lines.tsv"
    Then OPS holds 5 grant budget lines with ids 100 to 104
    And budget lines 100 and 101 share the grantee details of "Riverside University" in MD

  Scenario: A line whose agreement OPS does not have is refused, never stored without one
    When the analyst loads the MAPS file "bad/direct_obligation_budget_lines_orphan.tsv"
    Then the load is refused, naming "direct_obligation_budget_lines_orphan.tsv:2:SYS_DIRECT_OBLIGATION_ID"
    And no budget line is in OPS
    When the analyst loads the rest of the file, leaving the refused lines out
    Then the finding BLI_ORPHAN is reported at "direct_obligation_budget_lines_orphan.tsv:2:SYS_DIRECT_OBLIGATION_ID"
    And budget line 311 is in OPS under the direct obligation with MAPS id 1
    And budget line 310 is not in OPS

  Scenario: A CAN or object class code OPS does not know is a warning, and the line loads without it
    When the analyst loads the MAPS file "bad/direct_obligation_budget_lines_unknown_refs.tsv"
    Then the finding REF_UNRESOLVED is reported as a warning at "direct_obligation_budget_lines_unknown_refs.tsv:2:SYS_CAN_ID"
    And the finding REF_UNRESOLVED is reported as a warning at "direct_obligation_budget_lines_unknown_refs.tsv:2:OBJECT_CLASS_CODE"
    And budget line 399 is in OPS without a CAN

  Scenario: A budget line id another kind of line already has is a collision, not an overwrite
    Given the contract lines of the small export are in OPS
    When the analyst loads the MAPS file "bad/iaa_budget_lines_collision.tsv"
    Then the load is refused, naming "iaa_budget_lines_collision.tsv:2"
    When the analyst loads the rest of the file, leaving the refused lines out
    Then the finding KEY_COLLISION is reported at "iaa_budget_lines_collision.tsv:2"
    And budget line 1 is still a contract line

  Scenario Outline: Values MAPS spells wrongly are findings on their cell, and the file is not loaded
    When the analyst validates the MAPS file "bad/contract_budget_lines_bad_values.tsv"
    Then the finding <code> is reported at "<cell>"

    Examples:
      | code            | cell                                                          |
      | BAD_ENUM        | contract_budget_lines_bad_values.tsv:2:STATUS                 |
      | bad-date        | contract_budget_lines_bad_values.tsv:3:DATE_NEEDED            |
      | bad-amount      | contract_budget_lines_bad_values.tsv:4:AMOUNT                 |
      | BAD_NUMBER      | contract_budget_lines_bad_values.tsv:5:OVERWRITE_PSC_FEE_RATE |
      | BAD_NUMBER      | contract_budget_lines_bad_values.tsv:6:OVERWRITE_PSC_FEE_RATE |
      | BAD_BOOLEAN     | contract_budget_lines_bad_values.tsv:7:CERTIFIED              |
      | BAD_ENUM        | contract_budget_lines_bad_values.tsv:8:SYS_TYPE_OF_MODE_ID    |
      | ID_OUT_OF_RANGE | contract_budget_lines_bad_values.tsv:9:SYS_BUDGET_ID          |
      | KEY_DUPLICATE   | contract_budget_lines_bad_values.tsv:10:SYS_BUDGET_ID         |

  Scenario: MAPS's own spelling of a closed contract line is read; any other is a finding
    When the analyst validates the MAPS file "bad/contract_budget_lines_bad_values.tsv"
    Then the finding BAD_BOOLEAN is reported at "contract_budget_lines_bad_values.tsv:11:CLOSED"
    When the analyst validates the MAPS file "small/contract_budget_lines.tsv"
    Then no finding is reported at "contract_budget_lines.tsv:4:CLOSED"

  Scenario: A grant line's state must be an exact two-letter code, and its institution flag a yes or no
    When the analyst validates the MAPS file "bad/grant_budget_lines_bad_grantee.tsv"
    Then the finding BAD_ENUM is reported at "grant_budget_lines_bad_grantee.tsv:2:STATE_CODE"
    And the finding BAD_ENUM is reported at "grant_budget_lines_bad_grantee.tsv:3:STATE_CODE"
    And the finding BAD_BOOLEAN is reported at "grant_budget_lines_bad_grantee.tsv:4:EDUCATIONAL_INSTITUTE"

  Scenario: A row that ends before its amount and status is truncated, not a line without them
    When the analyst validates the MAPS file "bad/contract_budget_lines_truncated.tsv"
    Then the finding ROW_TRUNCATED is reported at "contract_budget_lines_truncated.tsv:3:AMOUNT"

  Scenario: Columns OPS has no place for are reported as not loaded
    When the analyst validates the MAPS file "small/contract_budget_lines.tsv"
    Then the finding COLUMN_UNLOADED is reported at "contract_budget_lines.tsv:1:REQUISITION_NBR"
    And the finding COLUMN_UNLOADED is reported at "contract_budget_lines.tsv:1:SYS_AAP_ID"
    When the analyst validates the MAPS file "small/direct_obligation_budget_lines.tsv"
    Then the finding COLUMN_UNLOADED is reported at "direct_obligation_budget_lines.tsv:1:PROJECT_OFFICER"

  Scenario: An IAA line's blank fee rate and blank document flag stay blank
    When the analyst loads the MAPS file "small/iaa_budget_lines.tsv"
    Then budget line 202 has no fee rate and no document-received flag
    And budget line 201 has the document-received flag false
