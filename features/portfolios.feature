Feature: Which portfolio a CAN belongs to
  The portfolio comes from the CAN description, through a lookup table that stakeholders review
  (ops_pipeline/rules/portfolio_lookup.csv). A description that is not in the table has no known
  portfolio, and OPS requires a portfolio on every CAN: such a CAN is created only if OPS already
  has it. Otherwise its lines load without a CAN, each with a warning, and the report lists the
  CAN as needing a portfolio decision. Nothing is dropped without a word.

  Scenario Outline: Known CAN descriptions map to their portfolio
    Given a CAN described as "<description>"
    Then its portfolio is "<portfolio>"

    Examples: Child Care
      | description    | portfolio |
      | CC-OPRE-Sal    | CC        |
      | CC             | CC        |
      | CC-COVID       | CC        |
      | CCE            | CC        |
      | CC - SB - 5 YR | CC        |
      | CC - 5 YR      | CC        |

    Examples: Head Start
      | description  | portfolio |
      | HS-TA        | HS        |
      | HS           | HS        |
      | HS Admin Res | HS        |
      | HS-5 YR      | HS        |

    Examples: Welfare Research
      | description | portfolio |
      | WR          | WR        |
      | WR-OPRE Sal | WR        |
      | OFA-WR      | WR        |

    Examples: Healthy Marriage and Responsible Fatherhood
      | description | portfolio |
      | OPRE-HMRF   | HMRF      |

    Examples: Home Visiting
      | description      | portfolio |
      | MIECHV COV HV TA | HV        |
      | MHV-T-TA22       | HV        |
      | COV - HV - R&E   | HV        |
      | MIECHV COV TA    | HV        |
      | HV-OAS           | HV        |
      | MHV-TA22         | HV        |
      | HV - Sal         | HV        |
      | MHV-T-TA21       | HV        |
      | MHV-22           | HV        |
      | MHV-G17          | HV        |

  Scenario Outline: Descriptions with no known portfolio need a decision
    Given a CAN described as "<description>"
    Then it has no portfolio and needs a decision

    Examples:
      | description |
      | SSRD        |
      | SRAE Disc   |
      | PREP        |
      | HPOG - Res  |
      | IV-E        |
      | OPER        |
      | R&D-5 YR    |
      | (none)      |

  Scenario: A CAN OPS does not have and whose portfolio is unknown is not created; its lines still load
    Given a budget workbook with these rows:
      | CAN                 | Project Title               | CIG Name      | CIG Type | Amount  | Status         |
      | G99SRAE (SRAE Disc) | Healthy Marriage Evaluation | HME Contract  | contract | 1000.00 | OPRE - CURRENT |
      | G99NODS             | Healthy Marriage Evaluation | HME Contract  | contract | 2000.00 | OPRE - CURRENT |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract  | contract | 3000.00 | OPRE - CURRENT |
    When the workbook goes through the pipeline into the database
    Then the database has 1 CANs
    And CAN "G99HRF2" belongs to portfolio "HMRF"
    And the database has 3 budget lines
    And the budget lines of 1000.00 and 2000.00 have no CAN
    And the report warns "can-without-portfolio" for CANs "G99NODS, G99SRAE"
    And the report warns "unresolved-link" on 2 budget lines
    And the CANs needing a portfolio decision are "G99NODS, G99SRAE"

  Scenario: Once OPS has the CAN, loading the workbook again links its lines
    Given a budget workbook with these rows:
      | CAN                 | Project Title               | CIG Name      | CIG Type | Amount  | Status         |
      | G99SRAE (SRAE Disc) | Healthy Marriage Evaluation | HME Contract  | contract | 1000.00 | OPRE - CURRENT |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract  | contract | 3000.00 | OPRE - CURRENT |
    And the workbook has gone through the pipeline into the database
    When budget staff add CAN "G99SRAE" to OPS in portfolio "HMRF"
    And the same workbook goes through the pipeline again
    Then the load reports budget_line_item inserted 0, updated 1, unchanged 1
    And the budget line of 1000.00 is on CAN "G99SRAE"
    And the report has no "unresolved-link" warning
    And no CAN needs a portfolio decision

  Scenario: A CAN OPS already has keeps its portfolio, whatever its description says
    Given OPS has CAN "G99NODS" in portfolio "CWR"
    And a budget workbook with these rows:
      | CAN                 | Project Title               | CIG Name      | CIG Type | Amount  | Status         |
      | G99NODS             | Healthy Marriage Evaluation | HME Contract  | contract | 2000.00 | OPRE - CURRENT |
    When the workbook goes through the pipeline into the database
    Then CAN "G99NODS" belongs to portfolio "CWR"
    And the budget line of 2000.00 is on CAN "G99NODS"
    And the report has no "can-without-portfolio" warning
    And no CAN needs a portfolio decision
