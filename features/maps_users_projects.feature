Feature: MAPS users and projects into OPS
  MAPS, the system OPS replaces, exports its users and its projects as tab-separated files. A MAPS
  id becomes the OPS id unchanged (OPS keeps ids below 500 for MAPS users and below 1000 for MAPS
  projects). The loader OPS used before dropped unknown roles and divisions without a word, wiped
  roles granted in OPS, and made every project type it did not recognise an administrative
  project. Here nothing is dropped or guessed without a finding that names the file, the line and
  the column (users.tsv:2:ROLES is line 2 of users.tsv, column ROLES; line 1 is the header).

  Scenario: A users export loads with its roles
    Given a MAPS users export with these rows:
      | SYS_USER_ID | EMAIL                   | DIVISION | STATUS   | ROLES                     | FIRST_NAME | LAST_NAME |
      | 1           | anna.budget@example.gov | DCFD     | ACTIVE   | BUDGET_TEAM,VIEWER_EDITOR | Anna       | Budget    |
      | 2           | ben.officer@example.gov | DFS      | INACTIVE |                           | Ben        | Officer   |
    When the MAPS users export goes through the pipeline
    Then OPS has these MAPS users:
      | id | email                   | division | status   | roles                     |
      | 1  | anna.budget@example.gov | DCFD     | ACTIVE   | BUDGET_TEAM, VIEWER_EDITOR |
      | 2  | ben.officer@example.gov | DFS      | INACTIVE |                           |
    And OPS recorded that the load created users 1 and 2

  Scenario: A role OPS does not have is reported, never silently dropped
    Given a MAPS users export with these rows:
      | SYS_USER_ID | EMAIL                   | DIVISION | STATUS | ROLES                  |
      | 1           | anna.budget@example.gov | DCFD     | ACTIVE | user,admin,BUDGET_TEAM |
    When the MAPS users export goes through the pipeline
    Then the users file is loaded with the warning ROLE_DROPPED at users.tsv:2:ROLES for "user"
    And the users file is loaded with the warning ROLE_DROPPED at users.tsv:2:ROLES for "admin"
    And MAPS user 1 has the roles "BUDGET_TEAM"

  Scenario: Roles granted in OPS are kept; a blank ROLES cell changes nothing
    Given a MAPS users export with these rows:
      | SYS_USER_ID | EMAIL                   | STATUS | ROLES       |
      | 1           | anna.budget@example.gov | ACTIVE | BUDGET_TEAM |
      | 2           | ben.officer@example.gov | ACTIVE | USER_ADMIN  |
    And the MAPS users export has gone through the pipeline
    When a new MAPS users export with these rows goes through the pipeline:
      | SYS_USER_ID | EMAIL                   | STATUS | ROLES         |
      | 1           | anna.budget@example.gov | ACTIVE | VIEWER_EDITOR |
      | 2           | ben.officer@example.gov | ACTIVE |               |
    Then MAPS user 1 has the roles "BUDGET_TEAM, VIEWER_EDITOR"
    And MAPS user 2 has the roles "USER_ADMIN"

  Scenario: A division OPS does not have is reported and the user keeps its division
    Given a MAPS users export with these rows:
      | SYS_USER_ID | EMAIL                   | DIVISION | STATUS |
      | 1           | anna.budget@example.gov | DCFD     | ACTIVE |
    And the MAPS users export has gone through the pipeline
    When a new MAPS users export with these rows goes through the pipeline:
      | SYS_USER_ID | EMAIL                   | DIVISION | STATUS |
      | 1           | anna.budget@example.gov | DCFX     | ACTIVE |
    Then the users file is loaded with the warning DIVISION_UNMATCHED at users.tsv:2:DIVISION for "DCFX"
    And MAPS user 1 is in division "DCFD"

  Scenario: A MAPS id outside the range OPS keeps for MAPS is refused
    Given a MAPS users export with these rows:
      | SYS_USER_ID | EMAIL                   | STATUS |
      | 1           | anna.budget@example.gov | ACTIVE |
      | 600         | zed.high@example.gov    | ACTIVE |
    When the MAPS users export goes through the pipeline
    Then OPS refuses the users file, with ID_OUT_OF_RANGE at users.tsv:3:SYS_USER_ID
    And OPS has no MAPS user 1

  Scenario: A row that ends before a required cell is refused
    Given a MAPS users export with these lines, cells separated by "|":
      """
      SYS_USER_ID|EMAIL|DIVISION|STATUS
      1|anna.budget@example.gov|DCFD|ACTIVE
      2
      """
    When the MAPS users export goes through the pipeline
    Then OPS refuses the users file, with ROW_TRUNCATED at users.tsv:3:EMAIL

  Scenario: The same MAPS id twice in a file is refused, never a silent last-wins
    Given a MAPS users export with these rows:
      | SYS_USER_ID | EMAIL                   | STATUS |
      | 1           | anna.budget@example.gov | ACTIVE |
      | 1           | anna.other@example.gov  | LOCKED |
    When the MAPS users export goes through the pipeline
    Then OPS refuses the users file, with KEY_DUPLICATE at users.tsv:3:SYS_USER_ID
    And OPS has no MAPS user 1

  Scenario Outline: A project type is RESEARCH or ADMINISTRATIVE_AND_SUPPORT, in any case
    Given a MAPS projects export with these rows:
      | SYS_PROJECT_ID | PROJECT_TITLE            | PROJECT_TYPE |
      | 1              | Home Visiting Evaluation | <written>    |
    When the MAPS projects export goes through the pipeline
    Then OPS has MAPS project 1 "Home Visiting Evaluation" of type <type>

    Examples:
      | written                    | type                       |
      | RESEARCH                   | RESEARCH                   |
      | Research                   | RESEARCH                   |
      | ADMINISTRATIVE_AND_SUPPORT | ADMINISTRATIVE_AND_SUPPORT |
      | administrative_and_support | ADMINISTRATIVE_AND_SUPPORT |

  Scenario: A typo in the project type is refused (the loader OPS used before made it administrative)
    Given a MAPS projects export with these rows:
      | SYS_PROJECT_ID | PROJECT_TITLE            | PROJECT_TYPE |
      | 1              | Home Visiting Evaluation | Reserch      |
    When the MAPS projects export goes through the pipeline
    Then OPS refuses the projects file, with BAD_ENUM at projects.tsv:2:PROJECT_TYPE
    And OPS has no MAPS project 1

  Scenario: Loading the same users and projects again changes nothing
    Given a MAPS users export with these rows:
      | SYS_USER_ID | EMAIL                   | DIVISION | STATUS | ROLES       |
      | 1           | anna.budget@example.gov | DCFD     | ACTIVE | BUDGET_TEAM |
    And a MAPS projects export with these rows:
      | SYS_PROJECT_ID | PROJECT_TITLE            | PROJECT_TYPE | PROJECT_DESCRIPTION |
      | 1              | Home Visiting Evaluation | RESEARCH     | A study             |
    And the MAPS users export has gone through the pipeline
    And the MAPS projects export has gone through the pipeline
    When both MAPS exports go through the pipeline again
    Then every MAPS user, role and project is unchanged
    And OPS's history gained nothing
