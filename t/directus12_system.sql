-- The system tables of Directus 12.4.0 that directus_sync.create_sync_user
-- reads and writes, and directus_activity (the loop guard needs it when a
-- remote has an inbound user), as Directus 12.4.0 leaves them on PostgreSQL
-- after its bootstrap: read with pg_dump --schema-only from a database that
-- scripts/directus.sh start bootstrapped (e2e/ pins 12.4.0), with every
-- migration version that bootstrap applied and the rows it seeds (the
-- administrator's role and policy, the public policy, the admin user with the
-- static token 'admin-fixture-token'), ids fixed. The other system tables are
-- left out, and with them the foreign keys that point at them.
-- sql/sync_user.sql loads each version's file into a database of its own, as
-- the role that owns Directus's tables.
CREATE TABLE directus_access (
    id uuid NOT NULL,
    role uuid,
    "user" uuid,
    policy uuid NOT NULL,
    sort integer
);
CREATE TABLE directus_collections (
    collection character varying(64) NOT NULL,
    icon character varying(64),
    note text,
    display_template character varying(255),
    hidden boolean DEFAULT false NOT NULL,
    singleton boolean DEFAULT false NOT NULL,
    translations json,
    archive_field character varying(64),
    archive_app_filter boolean DEFAULT true NOT NULL,
    archive_value character varying(255),
    unarchive_value character varying(255),
    sort_field character varying(64),
    accountability character varying(255) DEFAULT 'all'::character varying,
    color character varying(255),
    item_duplication_fields json,
    sort integer,
    "group" character varying(64),
    collapse character varying(255) DEFAULT 'open'::character varying NOT NULL,
    preview_url character varying(255),
    versioning boolean DEFAULT false NOT NULL,
    status character varying(255) DEFAULT 'active'::character varying NOT NULL,
    autosave_revision_interval real
);
CREATE TABLE directus_migrations (
    version character varying(255) NOT NULL,
    name character varying(255) NOT NULL,
    "timestamp" timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE directus_permissions (
    id integer NOT NULL,
    collection character varying(64) NOT NULL,
    action character varying(10) NOT NULL,
    permissions json,
    validation json,
    presets json,
    fields text,
    policy uuid NOT NULL
);
CREATE SEQUENCE directus_permissions_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE directus_permissions_id_seq OWNED BY directus_permissions.id;
CREATE TABLE directus_policies (
    id uuid NOT NULL,
    name character varying(100) NOT NULL,
    icon character varying(64) DEFAULT 'badge'::character varying NOT NULL,
    description text,
    ip_access text,
    enforce_tfa boolean DEFAULT false NOT NULL,
    admin_access boolean DEFAULT false NOT NULL,
    app_access boolean DEFAULT false NOT NULL
);
CREATE TABLE directus_roles (
    id uuid NOT NULL,
    name character varying(100) NOT NULL,
    icon character varying(64) DEFAULT 'supervised_user_circle'::character varying NOT NULL,
    description text,
    parent uuid
);
CREATE TABLE directus_users (
    id uuid NOT NULL,
    first_name character varying(50),
    last_name character varying(50),
    email character varying(128),
    password character varying(255),
    location character varying(255),
    title character varying(50),
    description text,
    tags json,
    avatar uuid,
    language character varying(255) DEFAULT NULL::character varying,
    tfa_secret character varying(255),
    status character varying(16) DEFAULT 'active'::character varying NOT NULL,
    role uuid,
    token character varying(255),
    last_access timestamp with time zone,
    last_page character varying(255),
    provider character varying(128) DEFAULT 'default'::character varying NOT NULL,
    external_identifier character varying(255),
    auth_data json,
    email_notifications boolean DEFAULT true,
    appearance character varying(255),
    theme_dark character varying(255),
    theme_light character varying(255),
    theme_light_overrides json,
    theme_dark_overrides json,
    text_direction character varying(255) DEFAULT 'auto'::character varying NOT NULL
);
ALTER TABLE ONLY directus_permissions ALTER COLUMN id SET DEFAULT nextval('directus_permissions_id_seq'::regclass);
ALTER TABLE ONLY directus_access
    ADD CONSTRAINT directus_access_pkey PRIMARY KEY (id);
ALTER TABLE ONLY directus_collections
    ADD CONSTRAINT directus_collections_pkey PRIMARY KEY (collection);
ALTER TABLE ONLY directus_migrations
    ADD CONSTRAINT directus_migrations_pkey PRIMARY KEY (version);
ALTER TABLE ONLY directus_permissions
    ADD CONSTRAINT directus_permissions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY directus_policies
    ADD CONSTRAINT directus_policies_pkey PRIMARY KEY (id);
ALTER TABLE ONLY directus_roles
    ADD CONSTRAINT directus_roles_pkey PRIMARY KEY (id);
ALTER TABLE ONLY directus_users
    ADD CONSTRAINT directus_users_email_unique UNIQUE (email);
ALTER TABLE ONLY directus_users
    ADD CONSTRAINT directus_users_external_identifier_unique UNIQUE (external_identifier);
ALTER TABLE ONLY directus_users
    ADD CONSTRAINT directus_users_pkey PRIMARY KEY (id);
ALTER TABLE ONLY directus_users
    ADD CONSTRAINT directus_users_token_unique UNIQUE (token);
ALTER TABLE ONLY directus_access
    ADD CONSTRAINT directus_access_policy_foreign FOREIGN KEY (policy) REFERENCES directus_policies(id) ON DELETE CASCADE;
ALTER TABLE ONLY directus_access
    ADD CONSTRAINT directus_access_role_foreign FOREIGN KEY (role) REFERENCES directus_roles(id) ON DELETE CASCADE;
ALTER TABLE ONLY directus_access
    ADD CONSTRAINT directus_access_user_foreign FOREIGN KEY ("user") REFERENCES directus_users(id) ON DELETE CASCADE;
ALTER TABLE ONLY directus_collections
    ADD CONSTRAINT directus_collections_group_foreign FOREIGN KEY ("group") REFERENCES directus_collections(collection);
ALTER TABLE ONLY directus_permissions
    ADD CONSTRAINT directus_permissions_policy_foreign FOREIGN KEY (policy) REFERENCES directus_policies(id) ON DELETE CASCADE;
ALTER TABLE ONLY directus_roles
    ADD CONSTRAINT directus_roles_parent_foreign FOREIGN KEY (parent) REFERENCES directus_roles(id);
ALTER TABLE ONLY directus_users
    ADD CONSTRAINT directus_users_role_foreign FOREIGN KEY (role) REFERENCES directus_roles(id) ON DELETE SET NULL;

CREATE TABLE directus_activity (
    id integer NOT NULL,
    action character varying(45) NOT NULL,
    "user" uuid,
    "timestamp" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    ip character varying(50),
    user_agent text,
    collection character varying(64) NOT NULL,
    item character varying(255) NOT NULL,
    origin character varying(255)
);
CREATE SEQUENCE directus_activity_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE directus_activity_id_seq OWNED BY directus_activity.id;
ALTER TABLE ONLY directus_activity ALTER COLUMN id SET DEFAULT nextval('directus_activity_id_seq'::regclass);
ALTER TABLE ONLY directus_activity
    ADD CONSTRAINT directus_activity_pkey PRIMARY KEY (id);
CREATE INDEX directus_activity_timestamp_index ON directus_activity USING btree ("timestamp");

INSERT INTO directus_migrations (version, name) SELECT v, 'fixture' FROM unnest(ARRAY[
    '20201028A', '20201029A', '20201029B', '20201029C', '20201105A', '20201105B', '20210225A', '20210304A', '20210312A',
    '20210331A', '20210415A', '20210416A', '20210422A', '20210506A', '20210510A', '20210518A', '20210519A', '20210521A',
    '20210525A', '20210608A', '20210626A', '20210716A', '20210721A', '20210802A', '20210803A', '20210805A', '20210805B',
    '20210811A', '20210831A', '20210903A', '20210907A', '20210910A', '20210920A', '20210924A', '20210927A', '20210927B',
    '20210929A', '20211007A', '20211009A', '20211016A', '20211103A', '20211103B', '20211104A', '20211118A', '20211211A',
    '20211230A', '20220303A', '20220308A', '20220314A', '20220322A', '20220323A', '20220325A', '20220325B', '20220402A',
    '20220429A', '20220429B', '20220429C', '20220429D', '20220614A', '20220801A', '20220802A', '20220826A', '20230401A',
    '20230525A', '20230526A', '20230721A', '20230823A', '20230927A', '20231009A', '20231009B', '20231010A', '20231215A',
    '20240122A', '20240204A', '20240305A', '20240311A', '20240422A', '20240515A', '20240701A', '20240716A', '20240806A',
    '20240817A', '20240909A', '20240909B', '20240924A', '20240924B', '20250224A', '20250609A', '20250613A', '20250718A',
    '20250813A', '20251012A', '20251014A', '20251028A', '20251103A', '20251224A', '20260110A', '20260113A', '20260128A',
    '20260204A', '20260211A', '20260217A', '20260312A', '20260507A', '20260512A', '20260512B', '20260727A', '20260818A',
    '20260909A'
]) AS m(v);
INSERT INTO directus_roles (id, name, icon, description)
VALUES ('0b000000-0000-4000-8000-000000000001', 'Administrator', 'verified', '$t:admin_description');
INSERT INTO directus_policies (id, name, icon, description, admin_access, app_access) VALUES
    ('abf8a154-5b1c-4a46-ac9c-7300570f4f17', '$t:public_label', 'public', '$t:public_description', false, false),
    ('0b000000-0000-4000-8000-000000000002', 'Administrator', 'verified', '$t:admin_description', true, true);
INSERT INTO directus_access (id, role, "user", policy, sort) VALUES
    ('0b000000-0000-4000-8000-000000000003', NULL, NULL, 'abf8a154-5b1c-4a46-ac9c-7300570f4f17', 1),
    ('0b000000-0000-4000-8000-000000000004', '0b000000-0000-4000-8000-000000000001', NULL,
     '0b000000-0000-4000-8000-000000000002', NULL);
INSERT INTO directus_users (id, email, password, status, role, token)
VALUES ('0b000000-0000-4000-8000-0000000000a1', 'admin@example.com', NULL, 'active',
        '0b000000-0000-4000-8000-000000000001', 'admin-fixture-token');

-- directus_fields and directus_presets (directus_sync.enable_app_status registers
-- its collections' fields and their default layouts there), read the same way.

CREATE TABLE directus_fields (
    id integer NOT NULL,
    collection character varying(64) NOT NULL,
    field character varying(64) NOT NULL,
    special character varying(64),
    interface character varying(64),
    options json,
    display character varying(64),
    display_options json,
    readonly boolean DEFAULT false NOT NULL,
    hidden boolean DEFAULT false NOT NULL,
    sort integer,
    width character varying(30) DEFAULT 'full'::character varying,
    translations json,
    note text,
    conditions json,
    required boolean DEFAULT false,
    "group" character varying(64),
    validation json,
    validation_message text,
    searchable boolean DEFAULT true NOT NULL
);

CREATE SEQUENCE directus_fields_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE directus_fields_id_seq OWNED BY directus_fields.id;

CREATE TABLE directus_presets (
    id integer NOT NULL,
    bookmark character varying(255),
    "user" uuid,
    role uuid,
    collection character varying(64),
    search character varying(100),
    layout character varying(100) DEFAULT 'tabular'::character varying,
    layout_query json,
    layout_options json,
    refresh_interval integer,
    filter json,
    icon character varying(64) DEFAULT 'bookmark'::character varying,
    color character varying(255)
);

CREATE SEQUENCE directus_presets_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE directus_presets_id_seq OWNED BY directus_presets.id;

ALTER TABLE ONLY directus_fields ALTER COLUMN id SET DEFAULT nextval('directus_fields_id_seq'::regclass);

ALTER TABLE ONLY directus_presets ALTER COLUMN id SET DEFAULT nextval('directus_presets_id_seq'::regclass);

ALTER TABLE ONLY directus_fields
    ADD CONSTRAINT directus_fields_pkey PRIMARY KEY (id);

ALTER TABLE ONLY directus_presets
    ADD CONSTRAINT directus_presets_pkey PRIMARY KEY (id);

ALTER TABLE ONLY directus_presets
    ADD CONSTRAINT directus_presets_role_foreign FOREIGN KEY (role) REFERENCES directus_roles(id) ON DELETE CASCADE;

ALTER TABLE ONLY directus_presets
    ADD CONSTRAINT directus_presets_user_foreign FOREIGN KEY ("user") REFERENCES directus_users(id) ON DELETE CASCADE;


-- directus_relations (directus_sync.enable_app_config registers the relations
-- of its collections there), as Directus 10 to 12 make it.
CREATE TABLE directus_relations (
    id integer NOT NULL,
    many_collection character varying(64) NOT NULL,
    many_field character varying(64) NOT NULL,
    one_collection character varying(64),
    one_field character varying(64),
    one_collection_field character varying(64),
    one_allowed_collections text,
    junction_field character varying(64),
    sort_field character varying(64),
    one_deselect_action character varying(255) DEFAULT 'nullify'::character varying NOT NULL
);

CREATE SEQUENCE directus_relations_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE directus_relations_id_seq OWNED BY directus_relations.id;

ALTER TABLE ONLY directus_relations ALTER COLUMN id SET DEFAULT nextval('directus_relations_id_seq'::regclass);

ALTER TABLE ONLY directus_relations
    ADD CONSTRAINT directus_relations_pkey PRIMARY KEY (id);
