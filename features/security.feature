Feature: Budget workbooks are handled safely
  Workbooks come from outside and may hold names, e-mail addresses and other personal data.
  Nothing the pipeline writes besides the staged data and the database may reveal them, exported
  files must not run formulas when opened, and old data is purged while the history stays.

  Scenario: A person named in a comment is never named in the report, logs or findings
    Given a security test workbook with the comment "Call Zebulon Canaryfield at zebulon.canary@example.gov or 202-555-0147" holding a control character, and the amount "amos.canary@example.gov"
    When the security test workbook goes through validation and the report
    Then the comment is rejected as "control-character" and the finding shows it as "***"
    And the "bad-amount" finding shows the value as "<email>"
    And nothing outside the staged data mentions "Zebulon"
    And nothing outside the staged data mentions "Canaryfield"
    And nothing outside the staged data mentions "zebulon.canary@example.gov"
    And nothing outside the staged data mentions "202-555-0147"
    And nothing outside the staged data mentions "amos.canary@example.gov"
    And the staged rejected rows still hold "Call Zebulon Canaryfield at zebulon.canary@example.gov or 202-555-0147"

  Scenario Outline: Rejected rows exported for the budget staff never start like a formula
    Given a security test workbook whose rejected row has the line description "<text>"
    When its rejected rows are exported to "<file>"
    Then the exported line description is "<exported>"
    And the export can be read only by its owner

    Examples:
      | text                         | file         | exported                      |
      | =HYPERLINK("http://x","go")  | rejects.csv  | '=HYPERLINK("http://x","go")  |
      | @SUM(A1)                     | rejects.csv  | '@SUM(A1)                     |
      | -2                           | rejects.xlsx | '-2                           |
      | +1+1                         | rejects.xlsx | '+1+1                         |
      | Year 1 evaluation            | rejects.csv  | Year 1 evaluation             |

  Scenario: A password-protected workbook is named as such
    Given the password-protected workbook "calamine__pass_protected.xlsx" from the corpus
    When the security test workbook goes through validation and the report
    Then validation stops with "this workbook is encrypted (password protected)"

  Scenario: Purging old runs keeps their history
    Given a security test run created 45 days ago
    When the operator purges runs older than "30d"
    Then the run keeps its manifest, report and event log
    And the run's source copy and staged rows are gone
    And validating the run again is refused because its data "was purged"
