Feature: The report accounts for every dollar of the workbook
  Budget analysts check a load by its money, not only its rows: what was read, what reached OPS,
  what was rejected or skipped, and whether OPS now holds what the workbook's own totals row says.

  Scenario: The lines loaded add up to the workbook's totals row
    Given a budget workbook with these rows:
      | CAN                 | Project Title               | CIG Name     | CIG Type | Date Needed | Amount  | Status  |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract | contract | 2025-03-01  | 1000.00 | planned |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract | contract | 2025-11-15  | 234.50  | planned |
    And the workbook ends with a totals row of 1234.50
    When the workbook goes through the pipeline into the database
    Then the report says $1,234.50 was read, $1,234.50 loaded, $0.00 rejected and $0.00 skipped
    And the loaded total matches the totals row
    And the PLANNED lines of fiscal year 2026 add up to $1,234.50

  Scenario: A rejected row makes the loaded total differ from the totals row, and the report says by how much
    Given a budget workbook with these rows:
      | CAN                 | Project Title               | CIG Name     | CIG Type | Date Needed | Amount  | Status         |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract | contract | 2025-03-01  | 1000.00 | planned        |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract | contract | 2025-03-01  | 500.00  | pending review |
    And the workbook ends with a totals row of 1500.00
    When the workbook goes through the pipeline into the database, loading the valid rows
    Then the report says $1,500.00 was read, $1,000.00 loaded, $500.00 rejected and $0.00 skipped
    And the report finds that the totals row says $1,500.00 but the lines loaded add up to $1,000.00
    And the rejected and skipped rows account for the difference
