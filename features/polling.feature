Feature: Polling object storage for new budget workbooks
  Budget staff drop workbooks into the incoming prefix of the cloud.gov bucket. Nobody runs the
  stages by hand: the poller takes every new file, oldest first, through fetch, validate,
  transform, load and report, and records the outcome of each file in the ledger, so that no
  file is loaded twice and none is forgotten.

  Background:
    Given the incoming prefix of an object store bucket

  Scenario: A new file is processed and reported
    Given a clean budget workbook "fy25.xlsx" with 60 rows is uploaded to the incoming prefix
    When the poller makes one pass over the incoming prefix
    Then the poller reports "fy25.xlsx" as "succeeded"
    And the ledger records "fy25.xlsx" as "succeeded" in the run the poller made for it
    And the report of the run for "fy25.xlsx" says "succeeded"
    And the poller has loaded 60 budget lines in all
    And the poll pass exits with code 0

  Scenario: The same file is not processed twice
    Given a clean budget workbook "fy25.xlsx" with 60 rows is uploaded to the incoming prefix
    And the poller has made one pass over the incoming prefix
    When the poller makes one pass over the incoming prefix
    Then the poller finds nothing new under the incoming prefix
    When the same workbook is uploaded to the incoming prefix again as "fy25 resent.xlsx"
    And the poller makes one pass over the incoming prefix
    Then the poller reports "fy25 resent.xlsx" as "duplicate"
    And the ledger records "fy25 resent.xlsx" as "duplicate" of the run that loaded "fy25.xlsx"
    And the poller has made 1 run directory in all
    And the poller has loaded 60 budget lines in all

  Scenario: A refused file does not stop the others
    Given the poller refuses files over 30000 bytes
    And a file "scanned budget.xlsx" of 40000 bytes is uploaded to the incoming prefix
    And a file "notes.xlsx" that is not a workbook is uploaded to the incoming prefix
    And a clean budget workbook "fy25.xlsx" with 60 rows is uploaded to the incoming prefix
    When the poller makes one pass over the incoming prefix
    Then the poller reports "scanned budget.xlsx" as "refused"
    And the poller reports "notes.xlsx" as "invalid"
    And the poller reports "fy25.xlsx" as "succeeded"
    And the ledger records "scanned budget.xlsx" as "refused" in the run the poller made for it
    And the poller has loaded 60 budget lines in all
    And the poll pass exits with code 1
    When the poller makes one pass over the incoming prefix
    Then the poller finds nothing new under the incoming prefix
