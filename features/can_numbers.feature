Feature: Reading the CAN column
  The CAN column holds the CAN number, then an optional description in parentheses.
  The number is what comes before the parenthesis: 7 letters or digits starting with a letter.
  The description is the trimmed text inside the parentheses.

  Scenario Outline: A CAN cell gives a number and a description
    When the CAN cell reads "<cell>"
    Then the CAN number is "<number>"
    And the CAN description is "<description>"

    Examples:
      | cell                     | number  | description    |
      | G99XXX1                  | G99XXX1 | (none)         |
      | G994648 (CC - SB - 5 YR) | G994648 | CC - SB - 5 YR |
      | G99ABCD(  HS-TA  )       | G99ABCD | HS-TA          |
      | G99HRF2 (OPRE-HMRF)      | G99HRF2 | OPRE-HMRF      |
      | A000000                  | A000000 | (none)         |

  Scenario Outline: Anything else in the CAN column is an error
    When the CAN cell reads "<cell>"
    Then the row is rejected with "bad-can"

    Examples:
      | cell     |
      | 1234567  |
      | G99 AB   |
      | G99ABC   |
      | G99ABCDE |
