--
-- PostgreSQL database dump
--

\restrict zbVnUDPEYO0fa8WaAh2a1uTefzfafXzonq2LS7Ox0wDI5tBFWQrGbI1zc1Zeyel

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: agreement; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.agreement (
    id integer NOT NULL,
    agreement_type character varying(30) NOT NULL,
    name character varying(500) NOT NULL,
    project_id integer,
    maps_sys_id integer,
    CONSTRAINT ck_agreement_type_known CHECK (((agreement_type)::text = ANY ((ARRAY['CONTRACT'::character varying, 'GRANT'::character varying, 'DIRECT_OBLIGATION'::character varying, 'IAA'::character varying, 'AA'::character varying])::text[])))
);


--
-- Name: agreement_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.agreement_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: agreement_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.agreement_id_seq OWNED BY public.agreement.id;


--
-- Name: budget_line_item; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.budget_line_item (
    id integer NOT NULL,
    line_description character varying(1000),
    comments character varying(4000),
    amount numeric(12,2),
    proc_shop_fee_amount numeric(12,2),
    date_needed date,
    fiscal_year integer,
    status character varying(20) NOT NULL,
    can_id integer,
    agreement_id integer,
    CONSTRAINT ck_status_known CHECK (((status)::text = ANY ((ARRAY['DRAFT'::character varying, 'PLANNED'::character varying, 'IN_EXECUTION'::character varying, 'OBLIGATED'::character varying])::text[])))
);


--
-- Name: budget_line_item_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.budget_line_item_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: budget_line_item_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.budget_line_item_id_seq OWNED BY public.budget_line_item.id;


--
-- Name: can; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.can (
    id integer NOT NULL,
    number character varying(7) NOT NULL,
    description character varying(255),
    nick_name character varying(100),
    portfolio_id integer
);


--
-- Name: can_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.can_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: can_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.can_id_seq OWNED BY public.can.id;


--
-- Name: division; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.division (
    id integer NOT NULL,
    name character varying(100) NOT NULL,
    abbreviation character varying(20) NOT NULL
);


--
-- Name: division_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.division_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: division_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.division_id_seq OWNED BY public.division.id;


--
-- Name: ops_pipeline_lineage; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ops_pipeline_lineage (
    id integer NOT NULL,
    run_id character varying(40) NOT NULL,
    entity character varying(40) NOT NULL,
    entity_id integer NOT NULL,
    file_sha256 character varying(64) NOT NULL,
    sheet character varying(100),
    rows text NOT NULL
);


--
-- Name: ops_pipeline_lineage_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ops_pipeline_lineage_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: ops_pipeline_lineage_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ops_pipeline_lineage_id_seq OWNED BY public.ops_pipeline_lineage.id;


--
-- Name: ops_pipeline_run; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ops_pipeline_run (
    id character varying(40) NOT NULL,
    dataset character varying(50) NOT NULL,
    source character varying(1000) NOT NULL,
    file_sha256 character varying(64) NOT NULL,
    staged_sha256 character varying(64) NOT NULL,
    status character varying(20) NOT NULL,
    counts json NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL
);


--
-- Name: ops_pipeline_schema; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ops_pipeline_schema (
    id integer NOT NULL,
    version integer NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: ops_pipeline_schema_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ops_pipeline_schema_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: ops_pipeline_schema_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ops_pipeline_schema_id_seq OWNED BY public.ops_pipeline_schema.id;


--
-- Name: ops_pipeline_source_file; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ops_pipeline_source_file (
    id integer NOT NULL,
    location character varying(1100) NOT NULL,
    version_key character varying(200) NOT NULL,
    version_id character varying(200),
    etag character varying(200),
    size integer,
    sha256 character varying(64),
    run_id character varying(40),
    outcome character varying(20) NOT NULL,
    first_seen_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone
);


--
-- Name: ops_pipeline_source_file_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ops_pipeline_source_file_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: ops_pipeline_source_file_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ops_pipeline_source_file_id_seq OWNED BY public.ops_pipeline_source_file.id;


--
-- Name: portfolio; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.portfolio (
    id integer NOT NULL,
    name character varying(200) NOT NULL,
    abbreviation character varying(20) NOT NULL,
    division_id integer NOT NULL
);


--
-- Name: portfolio_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.portfolio_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: portfolio_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.portfolio_id_seq OWNED BY public.portfolio.id;


--
-- Name: procurement_shop; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.procurement_shop (
    id integer NOT NULL,
    name character varying(200) NOT NULL,
    abbr character varying(20) NOT NULL,
    fee_percent numeric(5,2),
    fee_start_date date,
    fee_end_date date
);


--
-- Name: procurement_shop_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.procurement_shop_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: procurement_shop_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.procurement_shop_id_seq OWNED BY public.procurement_shop.id;


--
-- Name: project; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.project (
    id integer NOT NULL,
    project_type character varying(30) NOT NULL,
    title character varying(500) NOT NULL,
    short_title character varying(100),
    description text,
    maps_id integer,
    CONSTRAINT ck_project_type_known CHECK (((project_type)::text = ANY ((ARRAY['RESEARCH'::character varying, 'ADMINISTRATIVE_AND_SUPPORT'::character varying])::text[])))
);


--
-- Name: project_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.project_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: project_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.project_id_seq OWNED BY public.project.id;


--
-- Name: agreement id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agreement ALTER COLUMN id SET DEFAULT nextval('public.agreement_id_seq'::regclass);


--
-- Name: budget_line_item id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.budget_line_item ALTER COLUMN id SET DEFAULT nextval('public.budget_line_item_id_seq'::regclass);


--
-- Name: can id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.can ALTER COLUMN id SET DEFAULT nextval('public.can_id_seq'::regclass);


--
-- Name: division id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.division ALTER COLUMN id SET DEFAULT nextval('public.division_id_seq'::regclass);


--
-- Name: ops_pipeline_lineage id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ops_pipeline_lineage ALTER COLUMN id SET DEFAULT nextval('public.ops_pipeline_lineage_id_seq'::regclass);


--
-- Name: ops_pipeline_schema id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ops_pipeline_schema ALTER COLUMN id SET DEFAULT nextval('public.ops_pipeline_schema_id_seq'::regclass);


--
-- Name: ops_pipeline_source_file id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ops_pipeline_source_file ALTER COLUMN id SET DEFAULT nextval('public.ops_pipeline_source_file_id_seq'::regclass);


--
-- Name: portfolio id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.portfolio ALTER COLUMN id SET DEFAULT nextval('public.portfolio_id_seq'::regclass);


--
-- Name: procurement_shop id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procurement_shop ALTER COLUMN id SET DEFAULT nextval('public.procurement_shop_id_seq'::regclass);


--
-- Name: project id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.project ALTER COLUMN id SET DEFAULT nextval('public.project_id_seq'::regclass);


--
-- Name: agreement agreement_maps_sys_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agreement
    ADD CONSTRAINT agreement_maps_sys_id_key UNIQUE (maps_sys_id);


--
-- Name: agreement agreement_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agreement
    ADD CONSTRAINT agreement_pkey PRIMARY KEY (id);


--
-- Name: budget_line_item budget_line_item_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.budget_line_item
    ADD CONSTRAINT budget_line_item_pkey PRIMARY KEY (id);


--
-- Name: can can_number_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.can
    ADD CONSTRAINT can_number_key UNIQUE (number);


--
-- Name: can can_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.can
    ADD CONSTRAINT can_pkey PRIMARY KEY (id);


--
-- Name: division division_abbreviation_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.division
    ADD CONSTRAINT division_abbreviation_key UNIQUE (abbreviation);


--
-- Name: division division_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.division
    ADD CONSTRAINT division_pkey PRIMARY KEY (id);


--
-- Name: ops_pipeline_lineage ops_pipeline_lineage_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ops_pipeline_lineage
    ADD CONSTRAINT ops_pipeline_lineage_pkey PRIMARY KEY (id);


--
-- Name: ops_pipeline_run ops_pipeline_run_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ops_pipeline_run
    ADD CONSTRAINT ops_pipeline_run_pkey PRIMARY KEY (id);


--
-- Name: ops_pipeline_schema ops_pipeline_schema_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ops_pipeline_schema
    ADD CONSTRAINT ops_pipeline_schema_pkey PRIMARY KEY (id);


--
-- Name: ops_pipeline_source_file ops_pipeline_source_file_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ops_pipeline_source_file
    ADD CONSTRAINT ops_pipeline_source_file_pkey PRIMARY KEY (id);


--
-- Name: portfolio portfolio_abbreviation_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.portfolio
    ADD CONSTRAINT portfolio_abbreviation_key UNIQUE (abbreviation);


--
-- Name: portfolio portfolio_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.portfolio
    ADD CONSTRAINT portfolio_pkey PRIMARY KEY (id);


--
-- Name: procurement_shop procurement_shop_abbr_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procurement_shop
    ADD CONSTRAINT procurement_shop_abbr_key UNIQUE (abbr);


--
-- Name: procurement_shop procurement_shop_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.procurement_shop
    ADD CONSTRAINT procurement_shop_pkey PRIMARY KEY (id);


--
-- Name: project project_maps_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.project
    ADD CONSTRAINT project_maps_id_key UNIQUE (maps_id);


--
-- Name: project project_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.project
    ADD CONSTRAINT project_pkey PRIMARY KEY (id);


--
-- Name: ops_pipeline_lineage uq_lineage_run_entity; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ops_pipeline_lineage
    ADD CONSTRAINT uq_lineage_run_entity UNIQUE (run_id, entity, entity_id);


--
-- Name: ops_pipeline_source_file uq_source_file_version; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ops_pipeline_source_file
    ADD CONSTRAINT uq_source_file_version UNIQUE (location, version_key);


--
-- Name: ix_agreement_name_lower_type; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_agreement_name_lower_type ON public.agreement USING btree (lower((name)::text), agreement_type);


--
-- Name: ix_budget_line_item_agreement_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_budget_line_item_agreement_id ON public.budget_line_item USING btree (agreement_id);


--
-- Name: ix_budget_line_item_can_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_budget_line_item_can_id ON public.budget_line_item USING btree (can_id);


--
-- Name: ix_lineage_entity; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_lineage_entity ON public.ops_pipeline_lineage USING btree (entity, entity_id);


--
-- Name: ix_ops_pipeline_run_file_sha256; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_ops_pipeline_run_file_sha256 ON public.ops_pipeline_run USING btree (file_sha256);


--
-- Name: ix_ops_pipeline_source_file_sha256; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_ops_pipeline_source_file_sha256 ON public.ops_pipeline_source_file USING btree (sha256);


--
-- Name: ix_project_title_lower; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_project_title_lower ON public.project USING btree (lower((title)::text));


--
-- Name: agreement agreement_project_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.agreement
    ADD CONSTRAINT agreement_project_id_fkey FOREIGN KEY (project_id) REFERENCES public.project(id);


--
-- Name: budget_line_item budget_line_item_agreement_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.budget_line_item
    ADD CONSTRAINT budget_line_item_agreement_id_fkey FOREIGN KEY (agreement_id) REFERENCES public.agreement(id);


--
-- Name: budget_line_item budget_line_item_can_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.budget_line_item
    ADD CONSTRAINT budget_line_item_can_id_fkey FOREIGN KEY (can_id) REFERENCES public.can(id);


--
-- Name: can can_portfolio_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.can
    ADD CONSTRAINT can_portfolio_id_fkey FOREIGN KEY (portfolio_id) REFERENCES public.portfolio(id);


--
-- Name: ops_pipeline_lineage ops_pipeline_lineage_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ops_pipeline_lineage
    ADD CONSTRAINT ops_pipeline_lineage_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.ops_pipeline_run(id);


--
-- Name: portfolio portfolio_division_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.portfolio
    ADD CONSTRAINT portfolio_division_id_fkey FOREIGN KEY (division_id) REFERENCES public.division(id);


--
-- PostgreSQL database dump complete
--

\unrestrict zbVnUDPEYO0fa8WaAh2a1uTefzfafXzonq2LS7Ox0wDI5tBFWQrGbI1zc1Zeyel

