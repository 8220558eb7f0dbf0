Feature: From spreadsheet rows to projects, CANs, agreements and budget lines
  Reviewed with stakeholders (DOMAIN.md, "Business rules").

  Scenario: One research project per distinct title, except Placeholder and OPRE
    Given a budget workbook with these rows:
      | CAN                 | Project Title               | CIG Name     | CIG Type | Amount | Status  |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract | contract | 100.00 | planned |
      | G99HRF2 (OPRE-HMRF) | healthy marriage evaluation | HME Contract | contract | 200.00 | planned |
      | G99HRF2 (OPRE-HMRF) | OPRE                        | OPRE IAA     | iaa      | 300.00 | planned |
      | G99HRF2 (OPRE-HMRF) | Placeholder                 | Admin DO     | do       | 400.00 | planned |
    When the workbook goes through the pipeline into the database
    Then the database has these projects:
      | title                       | project_type |
      | Healthy Marriage Evaluation | RESEARCH     |
    And the report asks whether the OPRE rows are one project or several

  Scenario: A project that already exists is not created again
    Given the database already has a research project "Healthy Marriage Evaluation"
    And a budget workbook with these rows:
      | CAN                 | Project Title               | CIG Name     | CIG Type | Amount | Status  |
      | G99HRF2 (OPRE-HMRF) | HEALTHY MARRIAGE EVALUATION | HME Contract | contract | 100.00 | planned |
    When the workbook goes through the pipeline into the database
    Then the load reports project inserted 0, updated 0, unchanged 1
    And the database has 1 project

  Scenario: One agreement per distinct CIG name and type, belonging to the row's project
    Given a budget workbook with these rows:
      | CAN                 | Project Title               | CIG Name     | CIG Type | Amount | Status  |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract | contract | 100.00 | planned |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract | Contract | 200.00 | planned |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract | grant    | 300.00 | planned |
    When the workbook goes through the pipeline into the database
    Then the database has these agreements:
      | name         | agreement_type | project                     |
      | HME Contract | CONTRACT       | Healthy Marriage Evaluation |
      | HME Contract | GRANT          | Healthy Marriage Evaluation |

  Scenario: A Placeholder row is skipped, and says so
    Given a budget workbook with these rows:
      | CAN          | Project Title | CIG Name    | CIG Type | Amount | Status |
      | G99CC01 (CC) | Placeholder   | Placeholder | contract | 500.00 | draft  |
      | G99CC01 (CC) | CC Study      | CC Contract | contract | 600.00 | draft  |
    When the workbook goes through the pipeline into the database
    Then 1 row is skipped as "placeholder row (CIG Name is Placeholder)"
    And the database has 1 budget line

  Scenario: Each remaining row becomes a budget line linked to its CAN and agreement
    Given a budget workbook with these rows:
      | CAN          | Sys_Budget_ID | Project Title | CIG Name    | CIG Type | Line Desc | Date Needed | Amount     | Status          |
      | G99CC01 (CC) | 15001         | CC Study      | CC Contract | contract | Year 1    | 03/11/2025  | $ 1,234.00 | OPRE - CURRENT  |
      | G99CC01 (CC) | new           | CC Study      | CC Contract | contract | Year 2    | 2025-11-01  | (50.00)    | PSC - EXECUTING |
    When the workbook goes through the pipeline into the database
    Then the database has these budget lines:
      | id    | can     | agreement   | line_description | date_needed | amount  | status       | fiscal_year | type     |
      | 15001 | G99CC01 | CC Contract | Year 1           | 2025-03-11  | 1234.00 | PLANNED      | 2025        | CONTRACT |
      | *     | G99CC01 | CC Contract | Year 2           | 2025-11-01  | -50.00  | IN_EXECUTION | 2026        | CONTRACT |
    And every budget line traces back to its spreadsheet row

  Scenario: Loading the same workbook again changes nothing
    Given a budget workbook with these rows:
      | CAN          | Sys_Budget_ID | Project Title | CIG Name    | CIG Type | Amount | Status  |
      | G99CC01 (CC) | 15001         | CC Study      | CC Contract | contract | 100.00 | planned |
      | G99CC01 (CC) |               | CC Study      | CC Contract | contract | 200.00 | planned |
    When the workbook goes through the pipeline into the database
    And the same workbook goes through the pipeline again
    Then the load reports budget_line_item inserted 0, updated 0, unchanged 2
    And the database has 2 budget lines
    And OPS recorded no history for the second load

  Scenario: OPS keeps the history of every line the pipeline writes, as its own screens would
    Given a budget workbook with these rows:
      | CAN          | Sys_Budget_ID | Project Title | CIG Name    | CIG Type | Amount | Status  |
      | G99CC01 (CC) | 15001         | CC Study      | CC Contract | contract | 100.00 | planned |
    When the workbook goes through the pipeline into the database
    And the amount of budget id 15001 is changed to 250.00 in a new workbook that goes through the pipeline
    Then OPS's history of budget line 15001 has 2 versions, the latest with amount 250.00
    And OPS's audit log shows budget line 15001 created and then updated by the system user

  Scenario: A changed amount on a known budget id updates that line
    Given a budget workbook with these rows:
      | CAN          | Sys_Budget_ID | Project Title | CIG Name    | CIG Type | Amount | Status  |
      | G99CC01 (CC) | 15001         | CC Study      | CC Contract | contract | 100.00 | planned |
    When the workbook goes through the pipeline into the database
    And the amount of budget id 15001 is changed to 150.00 in a new workbook that goes through the pipeline
    Then the load reports budget_line_item inserted 0, updated 1, unchanged 0
    And budget line 15001 has amount 150.00
