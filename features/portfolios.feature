Feature: Which portfolio a CAN belongs to
  The portfolio comes from the CAN description, through a lookup table that stakeholders review
  (ops_pipeline/rules/portfolio_lookup.csv). A description that is not in the table has no known
  portfolio: the CAN is still created, and reported as needing a portfolio decision.

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

  Scenario: A CAN without a known portfolio is still created and reported
    Given a budget workbook with these rows:
      | CAN                 | Project Title               | CIG Name      | CIG Type | Amount  | Status         |
      | G99SRAE (SRAE Disc) | Healthy Marriage Evaluation | HME Contract  | contract | 1000.00 | OPRE - CURRENT |
      | G99NODS             | Healthy Marriage Evaluation | HME Contract  | contract | 2000.00 | OPRE - CURRENT |
      | G99HRF2 (OPRE-HMRF) | Healthy Marriage Evaluation | HME Contract  | contract | 3000.00 | OPRE - CURRENT |
    When the workbook goes through the pipeline into the database
    Then the database has 3 CANs
    And the CANs needing a portfolio decision are "G99NODS, G99SRAE"
    And CAN "G99HRF2" belongs to portfolio "HMRF"
    And CAN "G99SRAE" has no portfolio
