-- The SQLite schema that `ops-pipeline db init` created at commit a0276dc (its init_schema),
-- dumped from sqlite_master by tests' fixture generator; seed rows not included.
CREATE TABLE division (
	id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	abbreviation VARCHAR(20) NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (abbreviation)
);
CREATE TABLE project (
	id INTEGER NOT NULL, 
	project_type VARCHAR(30) NOT NULL, 
	title VARCHAR(500) NOT NULL, 
	short_title VARCHAR(100), 
	description TEXT, 
	maps_id INTEGER, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_project_type_known CHECK (project_type IN ('RESEARCH', 'ADMINISTRATIVE_AND_SUPPORT')), 
	UNIQUE (maps_id)
);
CREATE INDEX ix_project_title_lower ON project (lower(title));
CREATE TABLE procurement_shop (
	id INTEGER NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	abbr VARCHAR(20) NOT NULL, 
	fee_percent NUMERIC(5, 2), 
	fee_start_date DATE, 
	fee_end_date DATE, 
	PRIMARY KEY (id), 
	UNIQUE (abbr)
);
CREATE TABLE ops_pipeline_schema (
	id INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE ops_pipeline_run (
	id VARCHAR(40) NOT NULL, 
	dataset VARCHAR(50) NOT NULL, 
	source VARCHAR(1000) NOT NULL, 
	file_sha256 VARCHAR(64) NOT NULL, 
	staged_sha256 VARCHAR(64) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	counts JSON NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_ops_pipeline_run_file_sha256 ON ops_pipeline_run (file_sha256);
CREATE TABLE ops_pipeline_source_file (
	id INTEGER NOT NULL, 
	location VARCHAR(1100) NOT NULL, 
	version_key VARCHAR(200) NOT NULL, 
	version_id VARCHAR(200), 
	etag VARCHAR(200), 
	size INTEGER, 
	sha256 VARCHAR(64), 
	run_id VARCHAR(40), 
	outcome VARCHAR(20) NOT NULL, 
	first_seen_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_source_file_version UNIQUE (location, version_key)
);
CREATE INDEX ix_ops_pipeline_source_file_sha256 ON ops_pipeline_source_file (sha256);
CREATE TABLE portfolio (
	id INTEGER NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	abbreviation VARCHAR(20) NOT NULL, 
	division_id INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (abbreviation), 
	FOREIGN KEY(division_id) REFERENCES division (id)
);
CREATE TABLE agreement (
	id INTEGER NOT NULL, 
	agreement_type VARCHAR(30) NOT NULL, 
	name VARCHAR(500) NOT NULL, 
	project_id INTEGER, 
	maps_sys_id INTEGER, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_agreement_type_known CHECK (agreement_type IN ('CONTRACT', 'GRANT', 'DIRECT_OBLIGATION', 'IAA', 'AA')), 
	FOREIGN KEY(project_id) REFERENCES project (id), 
	UNIQUE (maps_sys_id)
);
CREATE INDEX ix_agreement_name_lower_type ON agreement (lower(name), agreement_type);
CREATE TABLE ops_pipeline_lineage (
	id INTEGER NOT NULL, 
	run_id VARCHAR(40) NOT NULL, 
	entity VARCHAR(40) NOT NULL, 
	entity_id INTEGER NOT NULL, 
	file_sha256 VARCHAR(64) NOT NULL, 
	sheet VARCHAR(100), 
	rows TEXT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_lineage_run_entity UNIQUE (run_id, entity, entity_id), 
	FOREIGN KEY(run_id) REFERENCES ops_pipeline_run (id)
);
CREATE INDEX ix_lineage_entity ON ops_pipeline_lineage (entity, entity_id);
CREATE TABLE can (
	id INTEGER NOT NULL, 
	number VARCHAR(7) NOT NULL, 
	description VARCHAR(255), 
	nick_name VARCHAR(100), 
	portfolio_id INTEGER, 
	PRIMARY KEY (id), 
	UNIQUE (number), 
	FOREIGN KEY(portfolio_id) REFERENCES portfolio (id)
);
CREATE TABLE budget_line_item (
	id INTEGER NOT NULL, 
	line_description VARCHAR(1000), 
	comments VARCHAR(4000), 
	amount NUMERIC(12, 2), 
	proc_shop_fee_amount NUMERIC(12, 2), 
	date_needed DATE, 
	fiscal_year INTEGER, 
	status VARCHAR(20) NOT NULL, 
	can_id INTEGER, 
	agreement_id INTEGER, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_status_known CHECK (status IN ('DRAFT', 'PLANNED', 'IN_EXECUTION', 'OBLIGATED')), 
	FOREIGN KEY(can_id) REFERENCES can (id), 
	FOREIGN KEY(agreement_id) REFERENCES agreement (id)
);
CREATE INDEX ix_budget_line_item_agreement_id ON budget_line_item (agreement_id);
CREATE INDEX ix_budget_line_item_can_id ON budget_line_item (can_id);
