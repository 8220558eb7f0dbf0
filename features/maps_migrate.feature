Feature: Migrating a whole MAPS export at once
  A MAPS export is a folder of tab-separated files, one per type. `ops-pipeline migrate` loads the
  whole folder into OPS: each file is recognised from its header row (whatever it is called), the
  files go in the order OPS needs them (users before the projects and agreements that name them),
  and the whole set is loaded in one go, so that it lands completely or not at all.

  Scenario: The files are loaded in dependency order, whatever they are called
    Given a MAPS export folder holding:
      | file          | holds    |
      | 1-projects.tsv | projects |
      | 2-users.tsv    | users    |
    When the export is planned
    Then the plan loads, in this order:
      | file           | dataset       |
      | 2-users.tsv    | maps-users    |
      | 1-projects.tsv | maps-projects |

  Scenario: A file the tool does not recognise stops the migration before anything is loaded
    Given a MAPS export folder holding:
      | file      | holds    |
      | users.tsv | users    |
      | notes.tsv | nothing  |
    When the export is migrated
    Then the migration stops with "notes.tsv: the header row is not that of any MAPS export this tool knows"
    And OPS has no migrated users

  Scenario: A file with rejected rows stops the whole set before the load
    Given a MAPS export folder holding:
      | file         | holds                     |
      | users.tsv    | users, one of them RETIRED |
      | projects.tsv | projects                  |
    When the export is migrated
    Then the migration stops with "users.tsv: validate rejected 1 row"
    And the migration report lists "BAD_ENUM" for "users.tsv"
    And OPS has no migrated users

  Scenario: Migrating the same export again changes nothing and writes no history
    Given a MAPS export folder holding:
      | file         | holds    |
      | users.tsv    | users    |
      | projects.tsv | projects |
    When the export is migrated
    And the export is migrated again
    Then the second migration inserted and updated nothing
    And OPS's history did not grow with the second migration
