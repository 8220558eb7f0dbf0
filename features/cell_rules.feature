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
