Feature: The budget workbook as budget staff keep it today (the current layout)
  Budget staff now keep one row per budget line with its agreement's services component (SC) and
  procurement shop: BL ID #, Portfolio, Project, Agreement, SC, Agreement Type, Description,
  Obligate By, FY, CAN, SubTotal, Procurement shop, Procurement shop fee, Procurement shop fee rate,
  Status, Comments. The pipeline recognises the layout by its header row. Every column is loaded or
  checked, and what is read but not loaded is listed in the report. A line never changes its
  agreement's procurement shop: a shop that differs is a question for budget staff.

  Background:
    Given OPS has the procurement shops "PSC, GCS, NIH"

  Scenario: A workbook in the current layout loads, with its agreements' services components
    Given a budget workbook in the current layout with these rows:
      | BL ID # | Portfolio | Project  | Agreement   | SC            | Agreement Type    | Description | Obligate By | FY   | CAN          | SubTotal | Procurement shop | Procurement shop fee | Procurement shop fee rate | Status         |
      | new     | CC        | CC Study | CC Contract | SC1           | Contract          | line A      | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | PSC              | 10                   | 1.0                       | OPRE - CURRENT |
      | NEW     | CC        | CC Study | CC Contract | OSC 2         | contract          | line B      | 2025-03-11  | 2025 | G99CC01 (CC) | 2000     | PSC              | 20                   | 1.0                       | planned        |
      |         | CC        | CC Study | CC Contract | SC1.1         | Contract          | line C      | 2025-03-11  | 2025 | G99CC01 (CC) | 500      | PSC              |                      |                           | draft          |
      | new     | CC        | CC Study | CC Contract | SC 1          | Contract          | line D      | 2025-03-11  | FY25 | G99CC01 (CC) | 500      |                  |                      |                           | draft          |
      | new     | CC        | CC Study | CC Direct   |               | Direct Obligation | line E      | 2025-03-11  | 2025 | G99CC01 (CC) | 700      |                  |                      |                           | draft          |
    When the current-layout workbook goes through the pipeline
    Then the load succeeds
    And the database has 5 budget lines in all
    And the database has these services components:
      | agreement   | number | optional | sub-component | shown as |
      | CC Contract | 1      | no       |               | SC1      |
      | CC Contract | 2      | yes      |               | OSC2     |
      | CC Contract | 1      | no       | SC1.1         | SC1      |
    And the budget lines are on these services components:
      | description | services component | sorted as |
      | line A      | SC1                | SC1       |
      | line B      | OSC2               | OSC2      |
      | line C      | SC1.1              | SC1       |
      | line D      | SC1                | SC1       |
      | line E      |                    |           |
    And agreement "CC Contract" has procurement shop "PSC"
    And the report asks no questions

  Scenario: The sheet saved as tab-separated text is recognised by its header and loads the same
    OPS's own data tools take the sheet as tab-separated text. Its cells are all text: dates,
    amounts and fiscal years are read as they are typed.
    Given the budget sheet in the current layout, saved as tab-separated text, with these rows:
      | BL ID # | Portfolio | Project  | Agreement   | SC    | Agreement Type    | Description | Obligate By | FY   | CAN          | SubTotal  | Procurement shop | Procurement shop fee | Procurement shop fee rate | Status  |
      | new     | CC        | CC Study | CC Contract | SC1   | Contract          | line A      | 3/11/2025   | FY25 | G99CC01 (CC) | $1,000.00 | PSC              | $10.00               | 1.0                       | planned |
      |         | CC        | CC Study | CC Contract | OSC 2 | Contract          | line B      | 2025-03-11  | 2025 | G99CC01 (CC) | 2000      | PSC              | 20                   | 1                         | draft   |
      | new     | CC        | CC Study | CC Direct   |       | Direct Obligation | line C      | 03/11/25    | 2025 | G99CC01 (CC) | 700.50    |                  |                      |                           | draft   |
    When the text file goes through the pipeline
    Then the load succeeds
    And the database has 3 budget lines in all
    And the budget lines are on these services components:
      | description | services component | sorted as |
      | line A      | SC1                | SC1       |
      | line B      | OSC2               | OSC2      |
      | line C      |                    |           |
    And agreement "CC Contract" has procurement shop "PSC"

  Scenario Outline: The SC cell names a services component of the line's agreement
    OPS shows a component as SC<n>, or OSC<n> when optional; on a severable contract it shows
    Base Period 1, Optional Period 2... (next scenario). A sub-component keeps its own name.

    When the SC cell reads "<cell>"
    Then it is services component <number>, optional "<optional>", sub-component "<sub>", shown as "<shown>"

    Examples:
      | cell              | number | optional | sub    | shown |
      | SC1               | 1      | no       | none   | SC1   |
      | SC 2              | 2      | no       | none   | SC2   |
      | sc3               | 3      | no       | none   | SC3   |
      | OSC3              | 3      | yes      | none   | OSC3  |
      | SC1.1             | 1      | no       | SC1.1  | SC1   |
      | OSC 2.1           | 2      | yes      | OSC2.1 | OSC2  |
      | Base Period 1     | 1      | no       | none   | SC1   |
      | Optional Period 2 | 2      | yes      | none   | OSC2  |

  Scenario: A blank SC cell is no services component
    When the SC cell is blank
    Then the line has no services component

  Scenario Outline: Anything else in the SC cell is an error
    When the SC cell reads "<cell>"
    Then the SC cell is an error "bad-services-component"

    Examples:
      | cell     |
      | Phase 2  |
      | SC       |
      | SC0      |
      | Period 1 |

  Scenario: On a severable contract OPS shows its components as base and optional periods
    Given OPS has the severable contract "Survey Contract"
    And a budget workbook in the current layout with these rows:
      | BL ID # | Portfolio | Project  | Agreement       | SC                | Agreement Type | Description | Obligate By | FY   | CAN          | SubTotal | Status |
      | new     | CC        | CC Study | Survey Contract | Base Period 1     | Contract       | year 1      | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | draft  |
      | new     | CC        | CC Study | Survey Contract | Optional Period 2 | Contract       | year 2      | 2026-03-11  | 2026 | G99CC01 (CC) | 1000     | draft  |
    When the current-layout workbook goes through the pipeline
    Then the load succeeds
    And the database has these services components:
      | agreement       | number | optional | sub-component | shown as          |
      | Survey Contract | 1      | no       |               | Base Period 1     |
      | Survey Contract | 2      | yes      |               | Optional Period 2 |

  Scenario: A BL ID # that OPS has updates that line; a number OPS does not have refuses the file
    # OPS numbers new budget lines from 15000 (the numbers below are kept for MAPS's).
    Given a budget workbook in the current layout with these rows:
      | BL ID # | Portfolio | Project  | Agreement   | Agreement Type | Description | Obligate By | FY   | CAN          | SubTotal | Status |
      | new     | CC        | CC Study | CC Contract | Contract       | first       | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | draft  |
    And the current-layout workbook has gone through the pipeline
    When budget staff change the rows to these and it goes through the pipeline:
      | BL ID # | Portfolio | Project  | Agreement   | Agreement Type | Description | Obligate By | FY   | CAN          | SubTotal | Status |
      | 15000   | CC        | CC Study | CC Contract | Contract       | renamed     | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | draft  |
    Then the load succeeds
    And budget line 15000 has the description "renamed"
    When budget staff change the rows to these and it goes through the pipeline:
      | BL ID # | Portfolio | Project  | Agreement   | Agreement Type | Description | Obligate By | FY   | CAN          | SubTotal | Status |
      | 15000   | CC        | CC Study | CC Contract | Contract       | again       | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | draft  |
      | 777     | CC        | CC Study | CC Contract | Contract       | unknown     | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | draft  |
    Then the run is refused: "FY25 Budget!A4: budget line 777 is not in OPS"
    And budget line 15000 has the description "renamed"
    And the database has 1 budget lines in all

  Scenario: A procurement shop OPS does not have refuses the file
    Given a budget workbook in the current layout with these rows:
      | BL ID # | Portfolio | Project  | Agreement   | Agreement Type | Description | Obligate By | FY   | CAN          | SubTotal | Procurement shop | Status |
      | new     | CC        | CC Study | CC Contract | Contract       | line A      | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | ACME             | draft  |
    When the current-layout workbook goes through the pipeline
    Then the run is refused: "FY25 Budget!L3: procurement shop ACME is not in OPS"
    And the database has 0 budget lines in all

  Scenario: A line never changes its agreement's procurement shop: a different shop is a question
    Given OPS has the contract "CC Contract" with procurement shop "GCS"
    And a budget workbook in the current layout with these rows:
      | BL ID # | Portfolio | Project  | Agreement   | Agreement Type | Description | Obligate By | FY   | CAN          | SubTotal | Procurement shop | Status |
      | new     | CC        | CC Study | CC Contract | Contract       | line A      | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | PSC              | draft  |
    When the current-layout workbook goes through the pipeline
    Then the load succeeds
    And agreement "CC Contract" has procurement shop "GCS"
    And the report asks these questions:
      | code                       | row | question                                                                                                                  |
      | agreement-procurement-shop | 3   | agreement 'CC Contract' (CONTRACT) has procurement shop GCS in OPS, but its lines on rows 3 name PSC: which is right? OPS is left as it is |

  Scenario: The fee must be SubTotal times the rate, and come with a rate and a shop
    Given a budget workbook in the current layout with these rows:
      | BL ID # | Portfolio | Project  | Agreement   | Agreement Type | Description | Obligate By | FY   | CAN          | SubTotal | Procurement shop | Procurement shop fee | Procurement shop fee rate | Status |
      | new     | CC        | CC Study | CC Contract | Contract       | right fee   | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | NIH              | 5                    | 0.5                       | draft  |
      | new     | CC        | CC Study | CC Contract | Contract       | wrong fee   | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | NIH              | 6                    | 0.5                       | draft  |
      | new     | CC        | CC Study | CC Contract | Contract       | no rate     | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | NIH              | 5                    |                           | draft  |
    When the current-layout workbook goes through the pipeline
    Then the load succeeds
    And the report has the finding "fee-mismatch" at FY25 Budget!M4 saying "the fee 6.00 is not SubTotal 1000.00 × 0.5 % ÷ 100 = 5.00"
    And the report has the finding "fee-without-rate-or-shop" at FY25 Budget!M5 saying "without a rate"
    And the database has 3 budget lines in all

  Scenario: Portfolio and FY are checked against the CAN and the Obligate By date
    Given a budget workbook in the current layout with these rows:
      | BL ID # | Portfolio | Project  | Agreement   | Agreement Type | Description | Obligate By | FY   | CAN          | SubTotal | Status |
      | new     | HS        | CC Study | CC Contract | Contract       | line A      | 2025-11-03  | 2025 | G99CC01 (CC) | 1000     | draft  |
    When the current-layout workbook goes through the pipeline
    Then the load succeeds
    And the report has the finding "portfolio-mismatch" at FY25 Budget!B3 saying "portfolio HS disagrees with CAN G99CC01, which OPS has in portfolio CC"
    And the report has the finding "fiscal-year-mismatch" at FY25 Budget!I3 saying "FY 2025, but Obligate By 2025-11-03 is in fiscal year 2026"

  Scenario: Comments may name people: the report never shows them
    Given a budget workbook in the current layout with these rows:
      | BL ID # | Portfolio | Project  | Agreement   | Agreement Type | Description | Obligate By | FY   | CAN          | SubTotal | Status | Comments                      |
      | new     | CC        | CC Study | CC Contract | Contract       | line A      | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | draft  | ask jordan.alvarez@example.gov |
      | new     | CC        | CC Study | CC Contract | Contract       | line B      | 2025-03-11  | 2025 | G99CC01 (CC) | oops     | draft  | ask jordan.alvarez@example.gov |
    When the current-layout workbook goes through the pipeline
    Then the run is refused: "rejected"
    And the report never shows the comment "jordan.alvarez"

  Scenario: What is read but not loaded is listed; a reload changes nothing and records no history
    Given a budget workbook in the current layout with these rows:
      | BL ID # | Portfolio | Project  | Agreement   | SC  | Agreement Type | Description | Obligate By | FY   | CAN          | SubTotal | Procurement shop | Procurement shop fee | Procurement shop fee rate | Status |
      | new     | CC        | CC Study | CC Contract | SC1 | Contract       | line A      | 2025-03-11  | 2025 | G99CC01 (CC) | 1000     | PSC              | 10                   | 1                         | draft  |
    And the current-layout workbook has gone through the pipeline
    When the current-layout workbook goes through the pipeline
    Then the load succeeds
    And every entity of the second load is unchanged and OPS recorded no history for it
    And the report lists as read but not loaded:
      | column                               |
      | budget_line_item.proc_shop_fee_amount |
      | budget_line_item.proc_shop_fee_rate   |
      | budget_line_item.fiscal_year          |
      | budget_line_item.portfolio            |

  Scenario: A header mixing the classic and the current layout is one clear error
    Given a budget workbook whose header row has the columns CAN, Sys_Budget_ID, Project Title, CIG Name, CIG Type, Line Desc, Date Needed, Amount, Status, Agreement, SubTotal, Obligate By
    When the current-layout workbook goes through the pipeline
    Then the run is refused: "the header row mixes the classic layout's columns 'CIG Name', 'Date Needed', 'Amount' with the current layout's 'Agreement', 'Obligate By', 'SubTotal': keep the columns of one layout"

  Scenario: A Portfolio or FY column beside a classic table is an extra column, not a mix
    Given a budget workbook whose header row has the columns CAN, Sys_Budget_ID, Project Title, CIG Name, CIG Type, Line Desc, Date Needed, Amount, Status, Portfolio, FY, SC
    When the current-layout workbook goes through the pipeline
    Then the file is read as the classic layout, with the extra columns "Portfolio, FY, SC"
    And the report has no "mixed-layout" finding

  Scenario: A current-layout header missing a column names it
    Given a budget workbook whose header row has the columns BL ID #, Portfolio, Project, Agreement, SC, Agreement Type, Description, Obligate By, CAN, SubTotal, Procurement shop, Procurement shop fee, Procurement shop fee rate, Status
    When the current-layout workbook goes through the pipeline
    Then the run is refused: "required column 'FY' missing from the header row"
