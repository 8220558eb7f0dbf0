Feature: Statuses, agreement types, amounts and dates
  Every cell is checked by its column's rule. A value that breaks the rule rejects the row with a
  finding that names the cell; it is never silently turned into an empty value.

  Scenario Outline: Spreadsheet statuses become OPS statuses
    When the Status cell reads "<cell>"
    Then the budget line status is "<status>"

    Examples:
      | cell            | status       |
      | OPRE - CURRENT  | PLANNED      |
      | OPRE            | PLANNED      |
      | PSC - EXECUTING | IN_EXECUTION |
      | obl             | OBLIGATED    |
      | Obligated       | OBLIGATED    |
      | com             | IN_EXECUTION |
      | in_execution    | IN_EXECUTION |
      | executing       | IN_EXECUTION |
      | planned         | PLANNED      |
      | DRAFT           | DRAFT        |

  Scenario: An unknown status is an error, never an empty status
    When the Status cell reads "Pending review"
    Then the row is rejected with "unknown-status"

  Scenario Outline: CIG types become agreement types
    When the CIG Type cell reads "<cell>"
    Then the agreement type is "<type>"

    Examples:
      | cell              | type              |
      | contract          | CONTRACT          |
      | grant             | GRANT             |
      | Grants            | GRANT             |
      | do                | DIRECT_OBLIGATION |
      | Direct Obligation | DIRECT_OBLIGATION |
      | IAA               | IAA               |
      | aa                | AA                |

  Scenario: A misspelt CIG type is an error
    When the CIG Type cell reads "Con tract"
    Then the row is rejected with "unknown-agreement-type"

  Scenario Outline: Amounts are read to the cent, with their sign
    When the Amount cell reads "<cell>"
    Then the amount is <amount>

    Examples:
      | cell          | amount   |
      | $ 1,234.00    | 1234.00  |
      | (500.00)      | -500.00  |
      | -$75.5        | -75.50   |
      | 1234567.89    | 1234567.89 |

  Scenario Outline: Malformed amounts are errors
    When the Amount cell reads "<cell>"
    Then the row is rejected with "<code>"

    Examples:
      | cell              | code                |
      | $ 234,1552,303.08 | bad-amount          |
      | 12.345            | bad-amount          |
      | twelve            | bad-amount          |
      | 12345678901.00    | amount-out-of-range |
      | 111111111111111111111111111111.00 | amount-out-of-range |
      | (99999999999999999999999999999) | amount-out-of-range |

  Scenario Outline: An amount too large for OPS is an error, however it is written
    OPS keeps amounts below ten billion dollars, to the cent. A larger number cell, even one
    Excel shows in scientific notation, rejects the row; it never stops the pipeline.

    When the <column> cell holds the number <number>
    Then the row is rejected with "amount-out-of-range"

    Examples:
      | column        | number        |
      | Amount        | 1e27          |
      | Amount        | -1e27         |
      | Amount        | 10000000000   |
      | PSCFee Amount | 1e300         |
      | PSCFee Amount | -1.5e20       |

  Scenario: An amount too small to show in cents reads as zero
    When the Amount cell holds the number 1e-30
    Then the amount is 0.00

  Scenario Outline: A cell holding an invisible control character is an error, in any column
    Control characters (NUL, escape and the like) are never typed text: they come from broken
    exports and hostile files, and the database refuses some of them. The row is rejected with a
    finding naming the cell, so that someone can clean it in Excel; nothing is silently removed.

    When the <column> cell reads "<text>" with a <character> in it
    Then the row is rejected with "control-character"
    And the finding names the cell All Budget - Cur!<cell>

    Examples:
      | column        | text          | character    | cell |
      | CAN           | G994648       | NUL          | A2   |
      | Sys_Budget_ID | 17            | vertical tab | B2   |
      | Project Title | Child Care    | ESC          | C2   |
      | Line Desc     | Year 1        | NUL          | F2   |
      | Date Needed   | 2025-03-11    | form feed    | G2   |
      | Amount        | $ 1,234.00    | BEL          | H2   |
      | Status        | draft         | DEL          | J2   |
      | Comments      | call back     | NUL          | K2   |

  Scenario Outline: Tabs and line breaks in text are kept as text
    When the Line Desc cell reads "Year 1 evaluation" with a <character> in it
    Then the row is valid

    Examples:
      | character  |
      | tab        |
      | line break |

  Scenario Outline: Dates needed in the forms budget staff type
    When the Date Needed cell reads "<cell>"
    Then the date needed is <date>

    Examples:
      | cell       | date       |
      | 2/22/25    | 2025-02-22 |
      | 03/11/2025 | 2025-03-11 |
      | 2025-03-11 | 2025-03-11 |

  Scenario: A bare date serial in a number cell is a date
    When the Date Needed cell holds the number 45678
    Then the date needed is 2025-01-21

  Scenario: A line dated October to December belongs to the next fiscal year
    When the Date Needed cell reads "10/01/2025"
    Then the fiscal year is 2026

  Scenario: An impossible date is an error
    When the Date Needed cell reads "31/31/2025"
    Then the row is rejected with "bad-date"
