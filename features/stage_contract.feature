Feature: The run directory contract between stages
  Each stage reads and writes the run directory, so an operator can rerun, inspect or chain any
  single stage, and an auditor can trust that what was loaded is what was validated.

  Background:
    Given a fetched budget workbook with 3 good rows

  Scenario: Stages run in order
    When the operator runs transform before validate
    Then transform refuses because "stage validate is pending"

  Scenario: Rerunning a stage marks the later stages as needing a rerun
    Given validate and transform have succeeded
    When the operator reruns validate
    Then the transform stage is "stale"
    And load refuses because "stage transform is stale"

  Scenario: A staged file changed after it was written is refused
    Given validate has succeeded
    When someone edits the validated rows file
    Then transform refuses because "no longer matches the sha256 recorded by validate"

  Scenario: Rejected rows stop the run unless the operator accepts them
    Given a fetched budget workbook where 1 of 3 rows has the amount "$ 234,1552,303.08"
    When the operator validates it
    Then validation reports 2 valid and 1 rejected rows
    And transform refuses because "validate rejected 1 row"
    But transform with accepted rejects produces 2 budget lines

  Scenario: A dry run after a load shows what a load would do and leaves the load on record
    Given validate and transform have succeeded
    And the run has been loaded into the database
    When the operator does a dry run of the load
    Then the load on record still says 3 budget lines inserted
    And the report shows the dry run as a plan: budget lines would be left unchanged 3
    And the run's status is still "succeeded"

  Scenario: A dry run alone loads nothing
    Given validate and transform have succeeded
    When the operator does a dry run of the load
    Then the load stage is still "pending"
    And the report says nothing was loaded and budget lines would be inserted 3
