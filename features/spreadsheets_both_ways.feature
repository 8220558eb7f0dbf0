Feature: Spreadsheets both ways
  Budget staff download their budget lines from OPS as a workbook, edit it in Excel and upload it
  again. Only what they changed changes in OPS. New lines they add get their OPS ids written back
  into their own workbook, so the next upload finds them by id.

  Background:
    Given a budget workbook with these rows:
      | CAN          | Project Title     | CIG Name           | CIG Type | Line Desc | Amount  | Status  |
      | G99HRF2 (HS) | Head Start Study  | Head Start Support | contract | Line A    | 1000.00 | planned |
      | G99HRF2 (HS) | Head Start Study  | Head Start Support | contract | Line B    | 2000.00 | planned |
      | G99HRF2 (HS) | Head Start Study  | Head Start Support | contract | Line C    | 3000.00 | draft   |
    And the workbook has gone through the pipeline into the database

  Scenario: I download my lines, change one amount, upload it, and only that line changes
    When I download my budget lines as a workbook
    And I change the amount of "Line B" to 2500.00 in the downloaded workbook
    And I upload the downloaded workbook
    Then the upload reports budget lines inserted 0, updated 1, unchanged 2
    And only "Line B" changed in OPS, and its amount is 2500.00

  Scenario: A downloaded workbook uploaded unchanged changes nothing
    When I download my budget lines as a workbook
    And I upload the downloaded workbook
    Then the upload reports budget lines inserted 0, updated 0, unchanged 3
    And OPS holds exactly what it held before the upload, history included

  Scenario: New lines get their OPS ids written into my own workbook
    When I ask for a copy of my workbook with the ids OPS gave the new lines
    Then every line of the copy has its OPS id
    And uploading the copy reports budget lines inserted 0, updated 0, unchanged 3
