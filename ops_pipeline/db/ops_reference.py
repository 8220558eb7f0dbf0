"""OPS's reference rows that the pipeline's embedded (SQLite) OPS subset is seeded with.

The same rows, with the same ids, that OPS's initial data puts into a new OPS database
(``tests/ops_schema/ops_initial_data.sql``, from upstream's ``data_tools/initial_data``): the
divisions, the portfolios every CAN must belong to, the roles users are granted, and the product
service codes a contract's PSC is matched on. On PostgreSQL OPS has them already and the
pipeline only reads them. ``tests/test_ops_subset.py`` parses the SQL file and fails if these
constants drift from it. The texts are public domain (see tests/ops_schema/SOURCES.md).
"""
from __future__ import annotations

#: ``ops.division``: id, name, abbreviation (directors and audit columns are NULL).
DIVISIONS: tuple[tuple[int, str, str], ...] = (
    (1, 'Child Care', 'CC'),
    (2, 'Division of Economic Independence', 'DECONI'),
    (3, 'Office of the Director', 'OD'),
    (4, 'Division of Child and Family Development', 'DCFD'),
    (5, 'Division of Family Strengthening', 'DFS'),
    (6, 'Division of Data and Improvement', 'DDI'),
    (7, 'Non-OPRE Division', 'OTHER'),
    (8, 'Division of Data Privacy', 'DDP'),
    (9, 'Office of the Chief Data Officer', 'OCDO'),
)

#: ``ops.portfolio``: id, name, abbreviation, status, division id, description.
PORTFOLIOS: tuple[tuple[int, str, str, str, int, str], ...] = (
    (1, 'Child Welfare Research', 'CWR', 'IN_PROCESS', 4,
     (
         '             The promotion of children’s safety, permanence, and well-being are '
         'the principles that guide child             welfare practice and policy. ACF seeks '
         'to improve the safety, permanency, and well-being of children through           '
         '  leadership, support for necessary services, and productive partnerships with states, '
         'tribes, and              communities. ACF’s Children’s Bureau has the primary responsibility '
         'for administering federal programs             that support state child welfare '
         'services. ACF provides matching federal funds to states, tribes, and            '
         ' communities to help them operate every aspect of their child welfare systems. This '
         'includes the             prevention of child abuse and neglect, the support of permanent '
         'placements through adoption and             subsidized guardianship, and the creation '
         'and maintenance of information systems necessary to support             these programs. '
         'ACF supports a number of research and evaluation activities as well as learning '
         'from a             broad array of other activities relevant to child welfare such '
         'as performance management, technical             assistance, stakeholder engagement, '
         'site monitoring, developing systems to oversee and use data, and             continuous '
         'quality improvement. ACF also analyzes and reports information on administrative '
         'data             such as the National Child Abuse and Neglect Data System (NCANDS), '
         'Adoption and Foster Care             Analysis and Reporting System (AFCARS), and '
         'National Youth in Transition Database (NYTD)\n'
         '\n'
         'Over the past several decades, research and evaluation activities in child welfare '
         'have increased             significantly. This body of knowledge has shown that '
         'child maltreatment is a complex problem associated             with multiple, interrelated '
         'risk and protective factors at individual, family, community, and contextual    '
         '         levels.  This research has demonstrated that child abuse and neglect may '
         'have long-lasting and cumulative             effects on the well-being of children '
         'into adulthood. There is burgeoning research examining the             potential '
         'effectiveness of preventative and intervention treatments to improve the safety, '
         'stability,             and well-being of children and their families.\n'
         '\n'
         'OPRE’s child welfare research portfolio includes research on children who are maltreated '
         'or who are at             risk for child maltreatment; children and families who '
         'come to the attention of child protective services;             and children and '
         'families who are receiving child welfare services either in their families of origin '
         'or             in substitute care settings. OPRE also partners with the Children’s '
         'Bureau to conduct research covering a             broad array of topics, including '
         'identification of antecedents and consequences of child maltreatment,           '
         '  strategies for prevention of maltreatment, and service needs and service outcomes '
         'for children who come             to the attention of child welfare.        '
     )),
    (2, 'Head Start Research', 'HS', 'IN_PROCESS', 4,
     (
         '            Established in 1965, Head Start was designed to promote the school readiness '
         'of children, ages three to            five, from families with low income, by supporting '
         'the development of the whole child through high-quality,            comprehensive '
         'services. In 1994, the Early Head Start program was established to provide the same '
         '           comprehensive services to families with low income who have infants and '
         'toddlers, as well as pregnant            women. Today, ACF’s Office of Head Start '
         'oversees approximately 1,600 Head Start and Early Head Start            grant recipients '
         'that serve nearly one million children, birth to age five, and their families.\n'
         '\n'
         'For over 50 years, Head Start research has examined the impact of its programs as '
         'a whole, how those            impacts vary for different populations, communities, '
         'or program characteristics, how programs deliver            services, the quality '
         'of services, the qualifications of staff, and the characteristics and needs of  '
         '          children and families. In doing so, Head Start research targets strategies '
         'for improving program quality            and child and family outcomes. Through '
         'partnerships between researchers and local programs, Head Start            develops '
         'and evaluates innovations in Head Start practice related to infant mental health, '
         'parenting,            dual language learning, curricular enhancements, caregiver-child '
         'interactions, dual-generation approaches,            and other topics. This growing '
         'research base provides valuable information not only for guiding program        '
         '    improvements in Head Start itself, but also for the larger field of early care '
         'and education.      '
     )),
    (3, 'Child Care Research', 'CC', 'IN_PROCESS', 4,
     (
         '            Quality child care and early education programs are a critical resource '
         'for families, support young            children’s development in a variety of domains, '
         'and assist parents in accessing comprehensive services            for their families.\n'
         '\n'
         'ACF supports working families with low incomes by providing funding and implementing '
         'policies intended            to increase access to affordable, quality child care '
         'and early education programs serving children from            birth through age '
         '13. ACF’s Office of Child Care administers the Child Care and Development Fund (CCDF), '
         '           which is a block grant authorized under the Child Care and Development '
         'Block Grant (CCDBG). In 2021,            CCDF made $9.5 billion available to state, '
         'territory, and tribal governments to support children and            their families '
         'by paying for child care that meets families’ needs and supports children’s development '
         '           and well-being. CCDF also provides funding to improve the quality of '
         'care by supporting efforts such as            child care licensing, quality improvement '
         'systems, and training and education for child care workers.\n'
         '\n'
         'OPRE’s child care research portfolio aims to increase knowledge about the efficacy '
         'of child care            subsidy policies and programs in enhancing employment and '
         'economic self-sufficiency of low-income            families, and in improving quality '
         'in child care and early education settings to support learning and            development '
         'of children from birth through age 13. Research demonstrating the link between subsidies, '
         '           quality child care and early education, and positive child and family '
         'outcomes has encouraged efforts to            enhance early care and education programs '
         'through investments of CCDF quality set-aside funds.      '
     )),
    (4, 'Welfare Research', 'WR', 'IN_PROCESS', 2,
     (
         '        The Personal Responsibility and Work Opportunity Reconciliation Act (PRWORA) '
         'of 1996 established the        Temporary Assistance for Needy Families (TANF) program '
         'to help children and families with low incomes        achieve economic security '
         'and stability. Under TANF, states, eligible territories, and tribes receive block '
         '       grant funds to provide cash assistance to eligible families and a range of '
         'other services to accomplish        one of the program’s four broad purposes. While '
         'TANF jurisdictions must meet certain work        participation and cost sharing '
         'requirements, they have considerable flexibility to design and implement        '
         'programs that best serve their distinct communities.\n'
         '\n'
         'PRWORA also authorized funding for welfare research, evaluation, and technical assistance '
         'activities.        The Consolidated Appropriations Act of 2017 significantly increased '
         'the amount of this funding by        establishing a set-aside of 0.33% of the TANF '
         'block grant to support these activities. The legislation        directs ACF to use '
         'these funds for TANF-related research and evaluation; the development of a “what '
         '       works clearinghouse” of effective approaches for moving welfare recipients '
         'into work; technical        assistance to support TANF programs and services; and '
         'federal administration of these activities. The        set-aside and the research, '
         'evaluation, and technical assistance it funds is referred to as the ‘Welfare    '
         '    Research’ portfolio.\n'
         '\n'
         'OPRE’s Division of Economic Independence partners with the Office of Family Assistance '
         '(OFA) to carry        out the Welfare Research portfolio. OFA administers the TANF '
         'program; collects and analyzes program        data on caseloads, expenditures, and '
         'work participation; and provides programmatic technical        assistance to TANF '
         'jurisdictions. OPRE conducts rigorous research and evaluation to better understand '
         '       how TANF and other human services programs can best support the self-sufficiency '
         'and economic well-        being of children and families with low incomes. These '
         'studies address a range of topics including TANF        program administration; '
         'employment, training, and occupational skill-building programs; coordination    '
         '    across social services delivery systems; and the role of broader social context '
         'and environmental factors.        Within these and related topics, OPRE funds experimental '
         'impact evaluations, implementation        evaluations, and descriptive research '
         'projects aimed at informing the design and implementation of        TANF programs '
         'and services. OPRE also supports activities to build the research and evaluation '
         'capacity        of TANF and other human services programs, and to communicate findings '
         'from the Welfare Research        portfolio to the broader field.      '
     )),
    (5, 'Adolescent Development Research', 'ADR', 'IN_PROCESS', 5,
     (
         '          Despite recent declines in teen childbirth rates, adolescent pregnancy '
         'rates in the United States are much          higher than in other western industrialized '
         'nations. More research and programming innovations are needed to          identify '
         'effective ways to decrease rates of adolescent sexual risk behavior and associated '
         'negative          outcomes. Since 2009, ACF has supported research and evaluation '
         'efforts in adolescent pregnancy prevention          and, more recently, sexual risk '
         'avoidance. ACF supports a number of research and evaluation activities as       '
         '   well as learning from a broad array of other activities such as performance management, '
         'technical          assistance, stakeholder engagement, site monitoring, and program '
         'improvement.\n'
         '\n'
         'To help reduce non-marital sexual activity, adolescent pregnancies, sexually transmitted '
         'infections,          and other risk behaviors, ACF’s Family and Youth Services Bureau '
         'oversees two funding streams within the          Adolescent Pregnancy Prevention '
         '(APP) program: the Personal Responsibility Education Program (PREP) and the     '
         '     Sexual Risk Avoidance Education (SRAE) Program. PREP programs educate adolescents '
         'on both abstinence and          contraception for the prevention of pregnancy and '
         'sexually transmitted infections. The SRAE Program funds          projects that exclusively '
         'implement sexual risk avoidance education that teaches youth how to voluntarily '
         '         refrain from non-marital sexual activity, empower youth to make healthy '
         'decisions, and provide tools and          resources to prevent youth engagement '
         'in other risky behaviors.      '
     )),
    (6, 'Healthy Marriage & Responsible Fatherhood Research', 'HMRF', 'IN_PROCESS', 5,
     (
         '            The Healthy Marriage and Responsible Fatherhood (HMRF) program is part '
         'of ACF’s strategy to improve the            long-term well-being of children and '
         'families. HMRF is a $150 million discretionary grant program            originally '
         'authorized under the Deficit Reduction Act of 2005 and reauthorized under the Claims '
         'Resolution            Act of 2010. ACF supports a number of research and evaluation '
         'activities as well as learning from a broad            array of other activities '
         'such as performance management, technical assistance, stakeholder engagement,   '
         '         site monitoring, and continuous quality improvement.\n'
         '\n'
         'A large body of research has shown that, on average, children raised in stable families '
         'with involved            parents and caregivers have better outcomes on a range '
         'of measures, even into adulthood. Research has also            identified dimensions '
         'of couples’ relationship functioning (e.g., positive communication, effective   '
         '         conflict management, problem solving, etc.) that could be modified or enhanced '
         'through relationship-focused            educational programming. Some evaluations '
         'have found that such programming can produce improvement in            multiple '
         'dimensions of relationship quality and stability. In recent decades, efforts to '
         'support and            promote supportive fathering have been spurred by research '
         'that shows a link between supportive fathering            and positive child outcomes. '
         'Thus, fatherhood programs aim to provide resources and supports to fathers      '
         '      around healthy marriage and relationships, parenting, and economic stability.\n'
         '\n'
         'OPRE’s strengthening families, healthy relationships and marriages, and fatherhood '
         'portfolio includes            research and evaluation on topics such as family formation '
         'and stability, co-parenting, marriage,            fatherhood, and violence in relationships. '
         'This research helps us develop more accurate knowledge of the            unique '
         'experiences of populations served by HMRF programs through a better understanding '
         'their strengths.            Studies include a focus on the implications of programs '
         'and policies (including welfare policies) for            child, adult, and family '
         'well-being.      '
     )),
    (7, 'Home Visiting Research', 'HV', 'IN_PROCESS', 5,
     (
         '            Home visiting is a service delivery strategy that aims to support the '
         'healthy development and well-being            of children and families. While each '
         'home visiting model has its unique aspects, in general, home visiting           '
         ' involves three main intervention activities conducted through one-on-one interactions '
         'between home            visitors and families: assessing family needs, educating '
         'and supporting parents, and referring families to            needed services in '
         'the community. Early childhood home visiting programs aim to improve a wide range '
         'of            outcomes including maternal health, child health and development, '
         'child maltreatment prevention, and family            economic self-sufficiency.\n'
         '\n'
         'Federal investment in home visiting — and related research and evaluation — has '
         'greatly expanded            through the Maternal, Infant, and Early Childhood Home '
         'Visiting (MIECHV) Program, which was established in            2010.\xa0The MIECHV '
         'Program supports home visiting for expectant and new parents with children up to '
         '           kindergarten entry age who live in communities that are at-risk for poor '
         'maternal and child health            outcomes. Families choose to participate in '
         'home visiting programs, and partner with health, social            service, and '
         'child development professionals to set and achieve goals that improve their health '
         'and            well-being. MIECHV is administered by the Health Resources and Services '
         'Administration (HRSA) in            collaboration with ACF. HRSA oversees the state '
         'and territory MIECHV Program, which provides grants to            states, territories, '
         'and eligible non-profit organizations to develop and implement statewide home visiting '
         '           programs. ACF oversees the Tribal MIECHV program, which provides grants '
         'to tribes, tribal organizations,            and Urban Indian Organizations to develop, '
         'implement, and evaluate home visiting programs in American            Indian and '
         'Alaska Native communities.\n'
         '\n'
         'In collaboration with HRSA and with ACF’s Tribal MIECHV program, ACF’s Office of '
         'Planning, Research,            and Evaluation manages and partners on research, '
         'evaluation, and technical assistance activities related            to MIECHV and '
         'home visiting.      '
     )),
    (8, 'OCDO Portfolio', 'OCDO', 'IN_PROCESS', 9,
     (
         '            Data governance is the mechanism (i.e., structures, processes, and policies) '
         'for organizational staff and            leadership to manage data throughout the '
         'data lifecycle, while ensuring its security, exploring            opportunities '
         'to share data for evidence-building activities, and using data for programmatic, '
         'evaluation            and research purposes. ACF’s goals related to data governance '
         'are to make data more usable, accessible,            and protected to meet the operational '
         'and evidence-building data governance needs of ACF; meet the            operational '
         'and evidence-building data governance needs of ACF offices;  and promote the reuse '
         'of ACF            data for evidence-building purposes at the state, local, tribal, '
         'territory, and grant recipient levels.\n'
         '\n'
         'The Data Governance Team within DDI has primary responsibility for coordinating '
         "ACF's data governance            activities. For the purpose of OPS, this portfolio "
         'covers projects that advance ACF’s progress in meeting            its data governance '
         'goals. This portfolio is led by the OPRE Division of Data and Improvement.      '
     )),
    (9, 'OD Portfolio', 'OD', 'IN_PROCESS', 3,
     ''),
    (10, 'Non-OPRE', 'NON-OPRE', 'IN_PROCESS', 3,
     ''),
)

#: Upstream's seed gives some portfolios' first version rows their earlier names: id -> name there.
PORTFOLIO_VERSION_NAMES: dict[int, str] = {
    2: 'Head Start',
    3: 'Child Care',
    6: 'Healthy Marriage & Responsible Fatherhood',
    7: 'Home Visiting',
    9: 'Office Of The Director',
    10: 'Not A Specific Portfolio',
}

#: ``ops.role``: id, name, permissions (audit columns are NULL). OPS grants users these by name.
ROLES: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, 'SYSTEM_OWNER', (
        'GET_AGREEMENT', 'PUT_AGREEMENT', 'PATCH_AGREEMENT', 'DELETE_AGREEMENT', 'POST_AGREEMENT',
        'GET_BUDGET_LINE_ITEM', 'PUT_BUDGET_LINE_ITEM', 'PATCH_BUDGET_LINE_ITEM',
        'POST_BUDGET_LINE_ITEM', 'DELETE_BUDGET_LINE_ITEM', 'GET_SERVICES_COMPONENT',
        'GET_GRANT_NUMBER', 'PUT_SERVICES_COMPONENT', 'PUT_GRANT_NUMBER', 'PATCH_SERVICES_COMPONENT',
        'PATCH_GRANT_NUMBER', 'POST_SERVICES_COMPONENT', 'POST_GRANT_NUMBER', 'GET_BLI_PACKAGE',
        'PUT_BLI_PACKAGE', 'PATCH_BLI_PACKAGE', 'POST_BLI_PACKAGE', 'GET_CAN', 'POST_CAN', 'PATCH_CAN',
        'PUT_CAN', 'DELETE_CAN', 'GET_DIVISION', 'PUT_DIVISION', 'PATCH_DIVISION', 'POST_DIVISION',
        'DELETE_DIVISION', 'GET_NOTIFICATION', 'PUT_NOTIFICATION', 'PATCH_NOTIFICATION',
        'GET_PORTFOLIO', 'PUT_PORTFOLIO', 'PATCH_PORTFOLIO', 'POST_PORTFOLIO', 'DELETE_PORTFOLIO',
        'GET_RESEARCH_PROJECT', 'POST_RESEARCH_PROJECT', 'PATCH_RESEARCH_PROJECT', 'GET_USER',
        'PUT_USER', 'PATCH_USER', 'GET_HISTORY', 'GET_WORKFLOW', 'PUT_WORKFLOW', 'PATCH_WORKFLOW',
        'POST_WORKFLOW', 'GET_CHANGE_REQUEST', 'PATCH_CHANGE_REQUEST', 'POST_CHANGE_REQUEST',
        'GET_CHANGE_REQUEST_REVIEW', 'PATCH_CHANGE_REQUEST_REVIEW', 'POST_CHANGE_REQUEST_REVIEW',
        'GET_UPLOAD_DOCUMENT', 'POST_UPLOAD_DOCUMENT', 'PATCH_UPLOAD_DOCUMENT')),
    (2, 'VIEWER_EDITOR', (
        'GET_AGREEMENT', 'PUT_AGREEMENT', 'PATCH_AGREEMENT', 'POST_AGREEMENT', 'GET_BUDGET_LINE_ITEM',
        'PUT_BUDGET_LINE_ITEM', 'PATCH_BUDGET_LINE_ITEM', 'POST_BUDGET_LINE_ITEM',
        'DELETE_BUDGET_LINE_ITEM', 'GET_SERVICES_COMPONENT', 'GET_GRANT_NUMBER',
        'PUT_SERVICES_COMPONENT', 'PUT_GRANT_NUMBER', 'PATCH_SERVICES_COMPONENT', 'PATCH_GRANT_NUMBER',
        'POST_SERVICES_COMPONENT', 'POST_GRANT_NUMBER', 'DELETE_SERVICES_COMPONENT',
        'DELETE_GRANT_NUMBER', 'GET_BLI_PACKAGE', 'GET_CAN', 'GET_DIVISION', 'GET_NOTIFICATION',
        'PUT_NOTIFICATION', 'PATCH_NOTIFICATION', 'GET_PORTFOLIO', 'GET_RESEARCH_PROJECT',
        'POST_RESEARCH_PROJECT', 'PATCH_RESEARCH_PROJECT', 'GET_USER', 'PUT_USER', 'PATCH_USER',
        'GET_HISTORY', 'GET_WORKFLOW', 'GET_CHANGE_REQUEST', 'PATCH_CHANGE_REQUEST',
        'POST_CHANGE_REQUEST', 'GET_CHANGE_REQUEST_REVIEW', 'GET_UPLOAD_DOCUMENT',
        'POST_UPLOAD_DOCUMENT', 'PATCH_UPLOAD_DOCUMENT')),
    (3, 'REVIEWER_APPROVER', (
        'GET_AGREEMENT', 'PUT_AGREEMENT', 'PATCH_AGREEMENT', 'POST_AGREEMENT', 'GET_BUDGET_LINE_ITEM',
        'PUT_BUDGET_LINE_ITEM', 'PATCH_BUDGET_LINE_ITEM', 'POST_BUDGET_LINE_ITEM',
        'DELETE_BUDGET_LINE_ITEM', 'GET_SERVICES_COMPONENT', 'GET_GRANT_NUMBER',
        'PUT_SERVICES_COMPONENT', 'PUT_GRANT_NUMBER', 'PATCH_SERVICES_COMPONENT', 'PATCH_GRANT_NUMBER',
        'POST_SERVICES_COMPONENT', 'POST_GRANT_NUMBER', 'DELETE_SERVICES_COMPONENT',
        'DELETE_GRANT_NUMBER', 'GET_BLI_PACKAGE', 'GET_CAN', 'GET_DIVISION', 'GET_NOTIFICATION',
        'PUT_NOTIFICATION', 'PATCH_NOTIFICATION', 'GET_PORTFOLIO', 'GET_RESEARCH_PROJECT',
        'POST_RESEARCH_PROJECT', 'PATCH_RESEARCH_PROJECT', 'GET_USER', 'PUT_USER', 'PATCH_USER',
        'GET_HISTORY', 'GET_WORKFLOW', 'GET_CHANGE_REQUEST', 'PATCH_CHANGE_REQUEST',
        'PUT_CHANGE_REQUEST', 'POST_CHANGE_REQUEST', 'DELETE_CHANGE_REQUEST',
        'GET_CHANGE_REQUEST_REVIEW', 'PATCH_CHANGE_REQUEST_REVIEW', 'PUT_CHANGE_REQUEST_REVIEW',
        'POST_CHANGE_REQUEST_REVIEW', 'DELETE_CHANGE_REQUEST_REVIEW', 'GET_UPLOAD_DOCUMENT',
        'POST_UPLOAD_DOCUMENT', 'PATCH_UPLOAD_DOCUMENT')),
    (4, 'USER_ADMIN', (
        'POST_USER',)),
    (5, 'BUDGET_TEAM', (
        'GET_AGREEMENT', 'PUT_AGREEMENT', 'PATCH_AGREEMENT', 'POST_AGREEMENT', 'GET_BUDGET_LINE_ITEM',
        'PUT_BUDGET_LINE_ITEM', 'PATCH_BUDGET_LINE_ITEM', 'POST_BUDGET_LINE_ITEM',
        'GET_SERVICES_COMPONENT', 'GET_GRANT_NUMBER', 'PUT_SERVICES_COMPONENT', 'PUT_GRANT_NUMBER',
        'PATCH_SERVICES_COMPONENT', 'PATCH_GRANT_NUMBER', 'POST_SERVICES_COMPONENT',
        'POST_GRANT_NUMBER', 'DELETE_SERVICES_COMPONENT', 'DELETE_GRANT_NUMBER', 'GET_BLI_PACKAGE',
        'PUT_BLI_PACKAGE', 'PATCH_BLI_PACKAGE', 'POST_BLI_PACKAGE', 'GET_CAN', 'PUT_CAN', 'PATCH_CAN',
        'POST_CAN', 'DELETE_CAN', 'GET_DIVISION', 'GET_NOTIFICATION', 'PUT_NOTIFICATION',
        'PATCH_NOTIFICATION', 'GET_PORTFOLIO', 'PUT_PORTFOLIO', 'PATCH_PORTFOLIO', 'POST_PORTFOLIO',
        'GET_RESEARCH_PROJECT', 'POST_RESEARCH_PROJECT', 'PUT_RESEARCH_PROJECT',
        'PATCH_RESEARCH_PROJECT', 'POST_RESEARCH_PROJECT', 'GET_USER', 'PUT_USER', 'PATCH_USER',
        'GET_HISTORY', 'GET_CHANGE_REQUEST', 'PUT_CHANGE_REQUEST', 'PATCH_CHANGE_REQUEST',
        'POST_CHANGE_REQUEST', 'GET_CHANGE_REQUEST_REVIEW', 'PUT_CHANGE_REQUEST_REVIEW',
        'PATCH_CHANGE_REQUEST_REVIEW', 'POST_CHANGE_REQUEST_REVIEW', 'GET_UPLOAD_DOCUMENT',
        'POST_UPLOAD_DOCUMENT')),
    (6, 'PROCUREMENT_TEAM', (
        'GET_AGREEMENT', 'GET_BUDGET_LINE_ITEM', 'GET_SERVICES_COMPONENT', 'GET_GRANT_NUMBER',
        'GET_BLI_PACKAGE', 'GET_CAN', 'GET_DIVISION', 'GET_NOTIFICATION', 'PUT_NOTIFICATION',
        'PATCH_NOTIFICATION', 'GET_PORTFOLIO', 'GET_RESEARCH_PROJECT', 'GET_USER', 'PUT_USER',
        'PATCH_USER', 'GET_HISTORY', 'GET_WORKFLOW', 'GET_CHANGE_REQUEST', 'GET_CHANGE_REQUEST_REVIEW',
        'GET_UPLOAD_DOCUMENT', 'POST_UPLOAD_DOCUMENT', 'PATCH_UPLOAD_DOCUMENT')),
)

#: Upstream's seed gives some roles' first version rows fewer permissions (added to the role later): id -> those left out.
ROLE_VERSION_LACKS: dict[int, tuple[str, ...]] = {
    1: ('PATCH_RESEARCH_PROJECT',),
    2: ('PATCH_RESEARCH_PROJECT',),
    3: ('PATCH_RESEARCH_PROJECT',),
}

#: ``ops.product_service_code``: id, name, naics, support code, description (a MAPS contract's
#: PSC_CODE is matched on ``naics``).
PRODUCT_SERVICE_CODES: tuple[tuple[int, str, int, str, str], ...] = (
    (1, 'Other Scientific and Technical Consulting Services', 541690, 'R410 - Research', ''),
    (2, 'Convention and Trade Shows', 561920, 'R706 - Support', ''),
)

#: ``ops.object_class_code``: id, code, description (the codes an IAA customer agency or a budget
#: line names; audit columns are NULL).
OBJECT_CLASS_CODES: tuple[tuple[int, int, str], ...] = (
    (1, 25205, 'IT (ADP) SVC'), (2, 21022, 'Conference - Non-Governme'), (3, 4145, 'Demonstration'),
    (4, 21101, 'Oversite Travel'), (5, 21000, 'Rest of travel'), (6, 26621, 'Supplies'),
    (7, 25101, 'Training?'), (8, 25308, 'IAA outside HHS'), (9, 25309, 'IAA within HHS'),
    (10, 25103, 'Contracts'), (11, 41401, 'Grants'), (12, 23110, 'Rental Payments'),
    (13, 23305, 'OIS TAP - FTS'), (14, 0, 'Based on Customer Agency'), (15, 1, 'Varies'),
    (16, 25408, 'Security'),
)

#: The one Continuum ``transaction`` row the seed's version rows point to, with upstream's fixed time.
SEED_TRANSACTION_ID = 1
SEED_TRANSACTION_ISSUED_AT = '2024-07-08 17:49:08.495129'
