Feature: MAPS reference data: vendors, IAA customer agencies, procurement shops and CANs
  MAPS exports its reference data as tab-separated files. They go into OPS before the agreements
  and budget lines that refer to them, with the MAPS ids as OPS ids. Whatever MAPS's old loaders
  changed or dropped without a word is reported here, on the cell, with a code.

  Scenario: Vendors keep their MAPS ids, and their DUNS numbers keep their leading zeros
    Given the MAPS reference export "vendors.tsv":
      | SYS_VENDOR_ID | VENDOR_NAME             | DUNS      | STATUS   |
      | 1             | Acme Evaluation Group   | 012345677 | ACTIVE   |
      | 2             | Brightpath Research LLC |           | INACTIVE |
    When the reference export goes through the pipeline into the database
    Then OPS has these vendors:
      | id | name                    | duns      | active |
      | 1  | Acme Evaluation Group   | 012345677 | yes    |
      | 2  | Brightpath Research LLC |           | no     |

  Scenario: A vendor's head of contract, address, phone and e-mail become its contact in OPS
    Given the MAPS reference export "vendors.tsv":
      | SYS_VENDOR_ID | VENDOR_NAME           | ADDRESS                 | HEAD_OF_CONTRACT | PHONE_NBR      | EMAIL                | STATUS |
      | 1             | Acme Evaluation Group | 100 Main St, Springfield | Pat Q. Example   | (202) 555-0101 | pat@vendor.example   | ACTIVE |
      | 2             | Brightpath Research   |                         |                  |                |                      | ACTIVE |
    When the reference export goes through the pipeline into the database
    Then OPS has these vendor contacts:
      | vendor | first name | middle name | last name | address                  | area code | phone    | e-mail             |
      | 1      | Pat        | Q.          | Example   | 100 Main St, Springfield | 202       | 555-0101 | pat@vendor.example |

  Scenario: A vendor without a status is loaded as inactive, and the report says so
    Given the MAPS reference export "vendors.tsv":
      | SYS_VENDOR_ID | VENDOR_NAME           | STATUS |
      | 1             | Acme Evaluation Group |        |
    When the reference export goes through the pipeline into the database
    Then OPS has these vendors:
      | id | name                  | duns | active |
      | 1  | Acme Evaluation Group |      | no     |
    And the reference report warns "VALUE_COERCED" on cell "vendors.tsv:2:STATUS"

  Scenario: A vendor status other than ACTIVE or INACTIVE is refused
    Given the MAPS reference export "vendors.tsv":
      | SYS_VENDOR_ID | VENDOR_NAME           | STATUS |
      | 1             | Acme Evaluation Group | Active |
    When the reference export is validated
    Then its line 2 is refused with "BAD_ENUM" on cell "vendors.tsv:2:STATUS"

  Scenario: A vendor id outside the range OPS keeps for MAPS is refused
    Given the MAPS reference export "vendors.tsv":
      | SYS_VENDOR_ID | VENDOR_NAME           | STATUS |
      | 150           | Out Of Range Vendor   | ACTIVE |
    When the reference export is validated
    Then its line 2 is refused with "ID_OUT_OF_RANGE" on cell "vendors.tsv:2:SYS_VENDOR_ID"

  Scenario: An IAA customer agency whose object class code OPS does not know loads without it
    Given the MAPS reference export "iaa_agency.tsv":
      | SYS_IAA_CUSTOMER_AGENCY_ID | CUSTOMER_AGENCY_NAME          | OBJECT_CLASS_CODE | CUSTOMER_AGENCY_NBR |
      | 1                          | Department of Example Affairs | 25309             | 7521                |
      | 2                          | Office of Sample Statistics   | 99999             | 1500                |
    When the reference export goes through the pipeline into the database
    Then OPS has these IAA customer agencies:
      | id | name                          | object class code | agency number |
      | 1  | Department of Example Affairs | 25309             | 7521          |
      | 2  | Office of Sample Statistics   |                   | 1500          |
    And the reference report warns "REF_UNRESOLVED" on cell "iaa_agency.tsv:3:OBJECT_CLASS_CODE"

  Scenario: A procurement shop has one fee per period, and its fees are percents
    Given the MAPS reference export "procurement_shops.tsv":
      | NAME                         | ABBREVIATION | FEE  | START_DATE | END_DATE   |
      | National Institute of Health | NIH          | 0.5  | 2022-10-01 | 2023-09-30 |
      | National Institute of Health | NIH          | 0.75 | 2023-10-01 | 2024-09-30 |
      | National Institute of Health | NIH          | 1    | 2024-10-01 |            |
      | Product Service Center       | PSC          | 0    |            |            |
    When the reference export goes through the pipeline into the database
    Then OPS has 2 procurement shops
    And OPS has these procurement shop fees:
      | shop | fee  | start      | end        |
      | NIH  | 0.50 | 2022-10-01 | 2023-09-30 |
      | NIH  | 0.75 | 2023-10-01 | 2024-09-30 |
      | NIH  | 1.00 | 2024-10-01 |            |
      | PSC  | 0.00 |            |            |

  Scenario: Overlapping fee periods, a period that ends before it starts and a blank fee are reported
    Given the MAPS reference export "procurement_shops.tsv":
      | NAME                         | ABBREVIATION | FEE | START_DATE | END_DATE   |
      | Department of Defense        | DOD          | 2   | 2023-01-01 | 2023-12-31 |
      | Department of Defense        | DOD          | 2.5 | 2023-06-01 |            |
      | National Institute of Health | NIH          |     | 2024-10-01 | 2024-09-30 |
    When the reference export goes through the pipeline into the database
    Then OPS has 2 procurement shops
    And the reference report warns "PROCUREMENT_SHOP_FEE_OVERLAP" on cell "procurement_shops.tsv:3:START_DATE"
    And the reference report warns "PROCUREMENT_SHOP_FEE_REVERSED" on cell "procurement_shops.tsv:4:START_DATE"
    And the reference report warns "VALUE_COERCED" on cell "procurement_shops.tsv:4:FEE"

  Scenario: A CAN loads with its portfolio and its funding details
    Given the MAPS reference export "cans.tsv":
      | FISCAL_YEAR | CAN_NBR | FUND           | PORTFOLIO | SYS_CAN_ID | CAN_DESCRIPTION | APPROP_PREFIX | APPROP_YEAR | APPROP_POSTFIX | FUNDING_SOURCE | METHOD_OF_TRANSFER | NICK_NAME  |
      | 2024        | G99AB01 | AAXXXX20241DAD | cwr       | 1          | CW evaluation   | XX            | 24          | XXXX           | OPRE           | DIRECT             | CW eval    |
      | 2024        | G99AB02 | CCXXXX20245RCD | Non-OPRE  | 2          | OD transfer     |               | 24          |                | ACF - MOU      | direct             |            |
    When the reference export goes through the pipeline into the database
    Then OPS has these CANs:
      | id | number  | portfolio | nick name | fund code      | fiscal year | appropriation | source  | method |
      | 1  | G99AB01 | CWR       | CW eval   | AAXXXX20241DAD | 2024        | XX-24-XXXX    | OPRE    | DIRECT |
      | 2  | G99AB02 | NON-OPRE  |           | CCXXXX20245RCD | 2024        | -24-          | ACF_MOU | DIRECT |

  Scenario: A CAN whose fund code is malformed loads without funding details
    Given the MAPS reference export "cans.tsv":
      | FISCAL_YEAR | CAN_NBR | FUND       | PORTFOLIO | SYS_CAN_ID | FUNDING_SOURCE | METHOD_OF_TRANSFER |
      | 2024        | G99AB01 | AAXXXX2024 | HS        | 1          | ACF            | DIRECT             |
    When the reference export goes through the pipeline into the database
    Then OPS has these CANs:
      | id | number  | portfolio | nick name | fund code | fiscal year | appropriation | source | method |
      | 1  | G99AB01 | HS        |           |           |             |               |        |        |
    And the reference report warns "CAN_NO_FUNDING_DETAILS" on cell "cans.tsv:2:FUND"

  Scenario: A new CAN without a method of transfer loads without funding details
    Given the MAPS reference export "cans.tsv":
      | FISCAL_YEAR | CAN_NBR | FUND           | PORTFOLIO | SYS_CAN_ID | FUNDING_SOURCE | METHOD_OF_TRANSFER |
      | 2024        | G99AB01 | AAXXXX20241DAD | HS        | 1          | ACF            |                    |
    When the reference export goes through the pipeline into the database
    Then OPS has 1 CAN without funding details
    And the reference report warns "CAN_NO_FUNDING_DETAILS" on cell "cans.tsv:2:METHOD_OF_TRANSFER"

  Scenario: A CAN in a portfolio OPS does not have, or with an unknown funding source, is refused
    Given the MAPS reference export "cans.tsv":
      | FISCAL_YEAR | CAN_NBR | FUND           | PORTFOLIO | SYS_CAN_ID | FUNDING_SOURCE | METHOD_OF_TRANSFER |
      | 2024        | G99AB01 | AAXXXX20241DAD | XYZ       | 1          | ACF            | DIRECT             |
      | 2024        | G99AB02 | AAXXXX20241DAD | HS        | 2          | Other          | DIRECT             |
    When the reference export is validated
    Then its line 2 is refused with "BAD_ENUM" on cell "cans.tsv:2:PORTFOLIO"
    And its line 3 is refused with "BAD_ENUM" on cell "cans.tsv:3:FUNDING_SOURCE"

  Scenario: The funding to date is reported as not loaded, and OPRE money not sent directly is flagged
    Given the MAPS reference export "cans.tsv":
      | FISCAL_YEAR | CAN_NBR | FUND           | PORTFOLIO | SYS_CAN_ID | CURRENT_FY_FUNDING_YTD | FUNDING_SOURCE | METHOD_OF_TRANSFER |
      | 2024        | G99AB01 | AAXXXX20241DAD | HS        | 1          | 1500000.00             | OPRE           | IAA                |
    When the reference export goes through the pipeline into the database
    Then the reference report notes "COLUMN_UNLOADED" on cell "cans.tsv:1:CURRENT_FY_FUNDING_YTD"
    And the reference report warns "CAN_SOURCE_METHOD_ADVISORY" on cell "cans.tsv:2:METHOD_OF_TRANSFER"

  Scenario: A later export updates a CAN: a blank description wipes it, other blanks keep what OPS has
    Given the MAPS reference export "cans.tsv":
      | FISCAL_YEAR | CAN_NBR | FUND           | PORTFOLIO | SYS_CAN_ID | CAN_DESCRIPTION | FUNDING_SOURCE | METHOD_OF_TRANSFER | NICK_NAME | FUNDING_PARTNER |
      | 2024        | G99AB01 | AAXXXX20241DAD | HS        | 1          | HS research     | ACF            | COST_SHARE         | HS study  | Head Start      |
    And the reference export has gone through the pipeline into the database
    When a later reference export "cans.tsv" goes through the pipeline into the database:
      | FISCAL_YEAR | CAN_NBR | FUND           | PORTFOLIO | SYS_CAN_ID | CAN_DESCRIPTION | FUNDING_SOURCE | METHOD_OF_TRANSFER | NICK_NAME | FUNDING_PARTNER |
      | 2025        | G99AB01 | AAXXXX20251DAD |           | 1          |                 |                |                    |           |                 |
    Then OPS has these CANs:
      | id | number  | portfolio | nick name | fund code      | fiscal year | appropriation | source | method     |
      | 1  | G99AB01 | HS        | HS study  | AAXXXX20251DAD | 2025        | --            | ACF    | COST_SHARE |
    And CAN "G99AB01" has no description and its funding partner is "Head Start"

  Scenario: A CAN number OPS holds for another CAN is never given to a second one
    Given the MAPS reference export "cans.tsv":
      | FISCAL_YEAR | CAN_NBR | FUND           | PORTFOLIO | SYS_CAN_ID | FUNDING_SOURCE | METHOD_OF_TRANSFER |
      | 2024        | G99AB01 | AAXXXX20241DAD | HS        | 1          | ACF            | DIRECT             |
    And the reference export has gone through the pipeline into the database
    When a later reference export "cans.tsv" goes through the pipeline, its refused rows left out:
      | FISCAL_YEAR | CAN_NBR | FUND           | PORTFOLIO | SYS_CAN_ID | FUNDING_SOURCE | METHOD_OF_TRANSFER |
      | 2025        | G99AB01 | AAXXXX20251DAD | CC        | 2          | HHS            | IAA                |
    Then the reference report refuses "KEY_COLLISION" on cell "cans.tsv:2:CAN_NBR"
    And OPS has these CANs:
      | id | number  | portfolio | nick name | fund code      | fiscal year | appropriation | source | method |
      | 1  | G99AB01 | HS        |           | AAXXXX20241DAD | 2024        | --            | ACF    | DIRECT |

  Scenario: Loading the same exports again changes nothing and records no history
    Given the small MAPS export set's vendors, IAA customer agencies, procurement shops and CANs have been loaded
    When they are loaded again
    Then every record is unchanged
    And OPS recorded no history for the reloads
