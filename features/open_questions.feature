Feature: Rows that disagree become questions for budget staff
  The pipeline does not guess between values that disagree: it uses the first one, loads, and the
  report asks budget staff which is right, naming the row. Rows repeating an earlier row's CAN,
  project and agreement are treated exactly as that earlier row was.

  Scenario: A CAN described two ways keeps its first description, and every disagreeing row is asked about
    Given a budget workbook with these rows:
      | CAN            | Project Title | CIG Name    | CIG Type | Amount | Status |
      | G99CC01 (CC)   | CC Study      | CC Contract | contract | 100.00 | draft  |
      | G99CC01 (HMRF) | CC Study      | CC Contract | contract | 200.00 | draft  |
      | G99CC01 (CC)   | CC Study      | CC Contract | contract | 300.00 | draft  |
      | G99CC01 (HMRF) | CC Study      | CC Contract | contract | 400.00 | draft  |
    When the workbook goes through the pipeline into the database
    Then CAN "G99CC01" belongs to portfolio "CC"
    And the report asks these questions:
      | code                     | row | question                                                          |
      | can-description-conflict | 3   | CAN G99CC01 has descriptions 'CC' and 'HMRF'; the first is used |
      | can-description-conflict | 5   | CAN G99CC01 has descriptions 'CC' and 'HMRF'; the first is used |
    And the database has 4 budget lines

  Scenario: A CAN first given without a description takes the first description a later row gives
    Given a budget workbook with these rows:
      | CAN          | Project Title | CIG Name    | CIG Type | Amount | Status |
      | G99CC01      | CC Study      | CC Contract | contract | 100.00 | draft  |
      | G99CC01 (CC) | CC Study      | CC Contract | contract | 200.00 | draft  |
      | G99CC01      | CC Study      | CC Contract | contract | 300.00 | draft  |
    When the workbook goes through the pipeline into the database
    Then CAN "G99CC01" belongs to portfolio "CC"
    And the report asks no questions

  Scenario: An agreement under two projects stays with the first, and every disagreeing row is asked about
    Given a budget workbook with these rows:
      | CAN          | Project Title | CIG Name      | CIG Type | Amount | Status |
      | G99CC01 (CC) | CC Study      | Shared Vendor | contract | 100.00 | draft  |
      | G99CC01 (CC) | Other Study   | Shared Vendor | contract | 200.00 | draft  |
      | G99CC01 (CC) | Other Study   | Shared Vendor | contract | 300.00 | draft  |
    When the workbook goes through the pipeline into the database
    Then the database has these agreements:
      | name          | agreement_type | project  |
      | Shared Vendor | CONTRACT       | CC Study |
    And the report asks these questions:
      | code                          | row | question                                                                                        |
      | agreement-in-several-projects | 3   | agreement 'Shared Vendor' appears under projects 'CC Study' and 'Other Study'; the first is used |
      | agreement-in-several-projects | 4   | agreement 'Shared Vendor' appears under projects 'CC Study' and 'Other Study'; the first is used |

  Scenario: A project whose CANs fall in several portfolios is asked about once
    Given a budget workbook with these rows:
      | CAN             | Project Title        | CIG Name    | CIG Type | Amount | Status |
      | G99CC01 (CC)    | Acquisition Services | AS Contract | contract | 100.00 | draft  |
      | G99ABCD (HS-TA) | Acquisition Services | AS Contract | contract | 200.00 | draft  |
      | G99CC01 (CC)    | Acquisition Services | AS Contract | contract | 300.00 | draft  |
    When the workbook goes through the pipeline into the database
    Then the report asks these questions:
      | code                          | row | question                                                                               |
      | project-in-several-portfolios |     | project 'Acquisition Services' has CANs in portfolios CC, HS: one project or several? |

  Scenario: A CAN's portfolio counts for a project from the first row that describes the CAN
    Given a budget workbook with these rows:
      | CAN             | Project Title        | CIG Name    | CIG Type | Amount | Status |
      | G99CC01         | Acquisition Services | AS Contract | contract | 100.00 | draft  |
      | G99ABCD (HS-TA) | Acquisition Services | AS Contract | contract | 200.00 | draft  |
      | G99CC01 (CC)    | CC Study             | CC Contract | contract | 300.00 | draft  |
      | G99CC01         | Acquisition Services | AS Contract | contract | 400.00 | draft  |
    When the workbook goes through the pipeline into the database
    Then the report asks these questions:
      | code                          | row | question                                                                               |
      | project-in-several-portfolios |     | project 'Acquisition Services' has CANs in portfolios CC, HS: one project or several? |
