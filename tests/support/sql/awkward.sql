-- awkward.sql: a deliberately awkward database for pgferry's whole-database migration tests.
--
-- Load as a superuser into an EMPTY database on PostgreSQL 15+:
--     psql -X -v ON_ERROR_STOP=1 -d <db> -f awkward.sql
-- Deterministic (no random(), no now() in stored data), small (< 1 s), no extensions, no roles.
-- It is also safe inside a single transaction (psql -1, or psycopg executing the whole file):
-- it has no BEGIN/COMMIT and never uses an enum label in the transaction that added it.
-- Rows that a trigger WOULD change are inserted before the trigger exists, so a migration that
-- loads data with triggers (or rules) active produces data that differs from the source.
-- See README.md next to this file for a map of feature -> object.

SET client_min_messages = warning;
SET search_path = public;

-------------------------------------------------------------------------------------------------
-- Schemas: ordinary, quoted mixed case, with a space
-------------------------------------------------------------------------------------------------
CREATE SCHEMA app;
CREATE SCHEMA "Sales";
CREATE SCHEMA "MixedCase Schema";
COMMENT ON SCHEMA "MixedCase Schema" IS 'schema whose name needs quoting: "MixedCase Schema"';

-------------------------------------------------------------------------------------------------
-- Types: enum (with a label added later, sorting out of OID order), domains with CHECK,
-- composite types (one containing a domain)
-------------------------------------------------------------------------------------------------
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy', 'élan vital');
ALTER TYPE app.mood ADD VALUE 'meh' BEFORE 'ok';          -- never used in data (see header)
CREATE DOMAIN app.positive_int AS integer CONSTRAINT positive_int_check CHECK (VALUE > 0);
CREATE DOMAIN app.email AS text NOT NULL CHECK (VALUE LIKE '%_@_%');
CREATE DOMAIN app.zip_code AS text CHECK (VALUE ~ '^[0-9]{5}$');
CREATE TYPE app.address AS (street text, city text, zip app.zip_code);
CREATE TYPE "Sales"."Money Pair" AS (amount numeric(12, 2), currency char(3));
COMMENT ON TYPE app.mood IS 'enum; label ''meh'' was added with ALTER TYPE ... ADD VALUE BEFORE';

-------------------------------------------------------------------------------------------------
-- Functions, a custom aggregate and a custom operator (all SQL / plpgsql, no C)
-------------------------------------------------------------------------------------------------
CREATE FUNCTION app.mul_state(numeric, numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT AS 'SELECT $1 * $2';
CREATE AGGREGATE app.product(numeric) (SFUNC = app.mul_state, STYPE = numeric, INITCOND = '1');

-- SQL-standard function body (parsed at CREATE time, dependencies tracked)
CREATE FUNCTION app.ci_eq(a text, b text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT
    RETURN lower(a) = lower(b);
CREATE OPERATOR app.=~= (LEFTARG = text, RIGHTARG = text, FUNCTION = app.ci_eq,
                         COMMUTATOR = OPERATOR(app.=~=));

-- used by an expression index; body fully qualified so it works under pg_dump's empty search_path
CREATE FUNCTION app.norm_name(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT pg_catalog.lower(pg_catalog.btrim($1)) $$;

-------------------------------------------------------------------------------------------------
-- Sequences: non-default start/increment used by a DEFAULT, a descending cycling one,
-- one that is never used and left with is_called = false
-------------------------------------------------------------------------------------------------
CREATE SEQUENCE app.ticket_seq START WITH 1000 INCREMENT BY 7;
CREATE SEQUENCE app.countdown_seq INCREMENT BY -3 MINVALUE -50 MAXVALUE 100 START WITH 100 CYCLE;
CREATE SEQUENCE app.lonely_seq AS smallint START WITH 5;
DO $$ BEGIN PERFORM setval('app.lonely_seq', 42, false); END $$;   -- next nextval() returns 42, not 43

-- a function whose body uses a sequence; used as a column DEFAULT below
CREATE FUNCTION app.next_code() RETURNS text
    LANGUAGE sql AS $$ SELECT 'C-' || pg_catalog.nextval('app.countdown_seq')::text $$;

-------------------------------------------------------------------------------------------------
-- app.kitchen_sink: the biggest table (3000 rows), a column of nearly every awkward type
-------------------------------------------------------------------------------------------------
CREATE TABLE app.kitchen_sink (
    id          bigint GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 10) PRIMARY KEY,
    ticket      integer NOT NULL DEFAULT nextval('app.ticket_seq'),
    code        text DEFAULT app.next_code(),
    mood        app.mood,
    moods       app.mood[],
    qty         app.positive_int,
    addr        app.address,
    pair        "Sales"."Money Pair",
    obsolete    text,                     -- dropped below: leaves an attisdropped hole
    label       text COLLATE "C",         -- NULL vs '' in the same column
    "from"      text,                     -- reserved word; carries COPY-hostile strings
    "Mixed Col" text,                     -- space + mixed case
    n           numeric,                  -- NaN, +/-Infinity
    f           double precision,         -- NaN, +/-Infinity, -0, denormal
    r           real,
    ts          timestamptz,
    d           date,
    iv          interval,
    ints        integer[],
    tags        text[],
    grid        integer[][],
    doc         jsonb,
    blob        bytea,
    big_text    text,
    total       numeric GENERATED ALWAYS AS (qty * 2.5) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),   -- default only; data uses fixed values
    CONSTRAINT kitchen_sink_qty_max CHECK (qty <= 1000),
    CONSTRAINT kitchen_sink_ticket_key UNIQUE (ticket)
);
ALTER TABLE app.kitchen_sink DROP COLUMN obsolete;
COMMENT ON TABLE app.kitchen_sink IS E'The biggest awkward table.\nComment has a newline, a ''quote'' and a backslash \\.';
COMMENT ON COLUMN app.kitchen_sink."from" IS 'reserved-word column carrying COPY-hostile strings';
COMMENT ON COLUMN app.kitchen_sink."Mixed Col" IS 'column name with a space';

WITH specials(k, s) AS (
    VALUES (1, E'tab\there'),
           (2, E'new\nline'),
           (3, E'carriage\rreturn\r\n'),
           (4, E'back\\slash \\N \\t'),
           (5, E'single '' and double " quotes'),
           (6, E'\\.'),                              -- COPY end-of-data marker on its own
           (7, E'line1\n\\.\nline3'),                -- ... and on its own line inside a value
           (8, E'\\N'),                              -- COPY text NULL marker as real data
           (9, 'NULL'),
           (10, ''),
           (11, NULL),
           (12, 'comma, semicolon; pipe| "csv" '),
           (13, E'unicode: \u00e9\u00fc\u00df \u4e2d\u6587 \U0001F600'),
           (14, E'control chars \u0001\u001f\u007f'),
           (15, '   padded   '),
           (16, E'\\x00deadbeef')                     -- looks like bytea hex
)
INSERT INTO app.kitchen_sink
    (ticket, code, mood, moods, qty, addr, pair, label, "from", "Mixed Col", n, f, r, ts, d, iv,
     ints, tags, grid, doc, blob, big_text, created_at)
SELECT
    nextval('app.ticket_seq'),
    CASE WHEN i % 11 = 0 THEN NULL ELSE 'K-' || i END,
    CASE WHEN i % 13 = 0 THEN NULL
         ELSE (ARRAY['sad', 'ok', 'happy', 'élan vital']::app.mood[])[1 + i % 4] END,
    CASE i % 5 WHEN 0 THEN NULL
               WHEN 1 THEN '{}'::app.mood[]
               WHEN 2 THEN ARRAY['sad', 'élan vital']::app.mood[]
               ELSE ARRAY['happy', NULL, 'ok']::app.mood[] END,
    CASE WHEN i % 17 = 0 THEN NULL ELSE 1 + i % 50 END,
    CASE WHEN i % 9 = 0 THEN NULL
         ELSE ROW('Street "' || i || '", flat ' || (i % 7),
                  (ARRAY['Zürich', 'São Paulo', 'New York', NULL])[1 + i % 4],
                  lpad(((i * 37) % 100000)::text, 5, '0'))::app.address END,
    CASE WHEN i % 6 = 0 THEN NULL ELSE ROW(round(i * 1.01, 2), 'EUR')::"Sales"."Money Pair" END,
    CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE 'label ' || i END,
    CASE WHEN s.k IS NOT NULL THEN s.s ELSE 'from ' || i END,
    'mixed ' || (i % 100),
    CASE i WHEN 1 THEN 'NaN'::numeric WHEN 2 THEN 'Infinity'::numeric WHEN 3 THEN '-Infinity'::numeric
           WHEN 4 THEN 123456789012345678901234567890.123456789012345678901234567890
           WHEN 5 THEN -0.000000000000000000001
           ELSE (i * 1.5)::numeric END,
    CASE i WHEN 1 THEN 'NaN'::float8 WHEN 2 THEN 'Infinity'::float8 WHEN 3 THEN '-Infinity'::float8
           WHEN 4 THEN '-0'::float8 WHEN 5 THEN 1e-310::float8 WHEN 6 THEN 1.7976931348623157e308::float8
           WHEN 7 THEN 0.1::float8
           ELSE i / 7.0::float8 END,
    CASE i WHEN 1 THEN 'NaN'::real WHEN 2 THEN '-Infinity'::real ELSE (i / 3.0)::real END,
    CASE i WHEN 1 THEN 'infinity'::timestamptz WHEN 2 THEN '-infinity'::timestamptz
           WHEN 3 THEN '0044-03-15 12:00:00+00 BC'::timestamptz
           WHEN 4 THEN '2000-01-01 00:00:00.123456+05:45'::timestamptz
           ELSE '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 hour 7 minutes 3.25 seconds' END,
    CASE i WHEN 1 THEN 'infinity'::date WHEN 2 THEN '-infinity'::date WHEN 3 THEN '4713-01-01 BC'::date
           ELSE date '2020-02-29' + i END,
    CASE i WHEN 1 THEN interval '1 year 2 mons 3 days 04:05:06.789'
           WHEN 2 THEN interval '-1 day +02:00'
           WHEN 3 THEN interval '178000000 years'
           ELSE i * interval '1 minute' END,
    CASE WHEN i % 8 = 0 THEN NULL WHEN i % 8 = 1 THEN '{}'::int[] ELSE ARRAY[i, i * 2, NULL, -i] END,
    CASE WHEN i % 3 = 0 THEN ARRAY['plain', 'with space', 'with,comma', 'with"quote', E'back\\slash', NULL, 'NULL', '']
         ELSE ARRAY['t' || i] END,
    CASE WHEN i % 10 = 0 THEN ARRAY[[i, i + 1], [i + 2, NULL]] END,
    CASE WHEN i % 1000 = 0 THEN
             (SELECT jsonb_build_object('big', jsonb_agg(jsonb_build_object('k', g, 'v', md5(i || ':' || g))))
                FROM generate_series(1, 600) g)
         WHEN i % 7 = 0 THEN NULL
         WHEN i % 7 = 1 THEN 'null'::jsonb
         ELSE jsonb_build_object('i', i, 'name', 'item ' || i, 'tags', jsonb_build_array('a', i % 3, NULL, true),
                                 'nested', jsonb_build_object('é', 'ü', 'quote"', E'back\\slash', 'nl', E'a\nb'),
                                 'num', 1.50, 'huge', 1e40, 'none', NULL) END,
    CASE WHEN i % 500 = 0 THEN
             (SELECT decode(string_agg(md5(i || '-' || g), ''), 'hex') FROM generate_series(1, 700) g)
         WHEN i % 5 = 0 THEN NULL
         WHEN i % 5 = 1 THEN ''::bytea
         ELSE '\x00'::bytea || int4send(i) || '\x00ff5c0a0d09'::bytea END,
    CASE WHEN i % 500 = 0 THEN
             (SELECT string_agg(md5(i || ':' || g), E'\n') FROM generate_series(1, 400) g)
         ELSE NULL END,
    '2023-06-01 12:00:00+00'::timestamptz + i * interval '1 day'
FROM generate_series(1, 3000) AS i
LEFT JOIN specials s ON s.k = i
ORDER BY i;

CREATE INDEX kitchen_sink_mood_idx ON app.kitchen_sink (mood) WHERE mood IS NOT NULL;
CREATE INDEX kitchen_sink_doc_gin ON app.kitchen_sink USING gin (doc jsonb_path_ops);
CREATE INDEX kitchen_sink_norm_label_idx ON app.kitchen_sink (app.norm_name("Mixed Col"));
CREATE STATISTICS app.kitchen_sink_stats (dependencies, ndistinct) ON mood, qty FROM app.kitchen_sink;

-- a few big values: 1 MB compressible text, ~256 kB incompressible bytea, ~200 kB jsonb
CREATE TABLE app.blobs (
    id   integer PRIMARY KEY,
    t    text,
    b    bytea,
    j    jsonb
);
INSERT INTO app.blobs VALUES
    (1, repeat('pgferry ', 131072), NULL, NULL),
    (2, NULL, (SELECT decode(string_agg(md5('b' || g), ''), 'hex') FROM generate_series(1, 16384) g), NULL),
    (3, NULL, NULL, (SELECT jsonb_agg(jsonb_build_object('g', g, 's', md5(g::text), 'a', ARRAY[g, g]))
                       FROM generate_series(1, 3000) g)),
    (4, '', '\x'::bytea, '{}'::jsonb),
    (5, NULL, '\x000000'::bytea, '[]'::jsonb);

-------------------------------------------------------------------------------------------------
-- Reserved-word and unicode names, names differing only in case
-------------------------------------------------------------------------------------------------
CREATE TABLE public."select" (
    id      integer PRIMARY KEY,
    "from"  text,
    "where" integer,
    "group" boolean DEFAULT false,
    CONSTRAINT select_where_key UNIQUE NULLS NOT DISTINCT ("where")   -- PG15 syntax
);
INSERT INTO public."select" SELECT i, 'from ' || i, CASE WHEN i = 5 THEN NULL ELSE i * 10 END, i % 2 = 0
FROM generate_series(1, 5) i;

CREATE TABLE public."café_ünïcode" (
    "Ωmega id"       serial PRIMARY KEY,
    "naïve column"   text,
    "we""ird"        text,
    "select_where"   integer REFERENCES public."select" ("where") ON UPDATE CASCADE,
    "UPPER"          integer,
    upper            integer
);
INSERT INTO public."café_ünïcode" ("naïve column", "we""ird", select_where, "UPPER", upper)
VALUES ('crème brûlée', 'has "quotes"', 10, 1, 2),
       ('日本語テキスト', NULL, 20, 3, 4),
       ('', '', NULL, 5, 6);
COMMENT ON COLUMN public."café_ünïcode"."naïve column" IS 'column with a space and a diaeresis';

CREATE TABLE "MixedCase Schema"."Users" (id integer PRIMARY KEY, "Name" text);
CREATE TABLE "MixedCase Schema".users (id integer PRIMARY KEY, name text);
INSERT INTO "MixedCase Schema"."Users" VALUES (1, 'Upper Alice'), (2, 'Upper Bob');
INSERT INTO "MixedCase Schema".users VALUES (1, 'lower alice');

CREATE TABLE app.a_table_name_that_is_exactly_sixty_three_bytes_long_xxxxxxxxxxx (
    id integer PRIMARY KEY,
    v  text
);
INSERT INTO app.a_table_name_that_is_exactly_sixty_three_bytes_long_xxxxxxxxxxx VALUES (1, 'long name');

-------------------------------------------------------------------------------------------------
-- FK cycle ("Sales".customer <-> "Sales"."order"), ON DELETE CASCADE, identity BY DEFAULT,
-- bigserial, generated column, a table named "order"
-------------------------------------------------------------------------------------------------
CREATE TABLE "Sales".customer (
    id                  integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name                text NOT NULL,
    email               app.email,
    region              text NOT NULL DEFAULT 'eu',
    favourite_order_id  bigint,
    CONSTRAINT customer_email_key UNIQUE (email)
);
CREATE TABLE "Sales"."order" (
    id           bigserial PRIMARY KEY,
    customer_id  integer NOT NULL REFERENCES "Sales".customer (id) ON DELETE CASCADE,
    "from"       text,
    placed_at    timestamptz NOT NULL,
    total        "Sales"."Money Pair"
);
ALTER TABLE "Sales".customer
    ADD CONSTRAINT customer_favourite_order_fk FOREIGN KEY (favourite_order_id)
        REFERENCES "Sales"."order" (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE "Sales".order_line (
    order_id    bigint NOT NULL REFERENCES "Sales"."order" (id) ON DELETE CASCADE,
    line_no     smallint NOT NULL,
    product     text NOT NULL,
    qty         integer NOT NULL CHECK (qty > 0),
    unit_price  numeric(10, 2) NOT NULL,
    line_total  numeric(12, 2) GENERATED ALWAYS AS (qty * unit_price) STORED,
    PRIMARY KEY (order_id, line_no)
);

-- identity BY DEFAULT with explicit ids: the identity sequence stays BEHIND max(id)
INSERT INTO "Sales".customer (id, name, email, region)
SELECT i, 'Customer ' || i, 'c' || i || '@example.com', CASE WHEN i % 5 = 0 THEN 'hidden' ELSE 'eu' END
FROM generate_series(1, 40) i;
DO $$ BEGIN PERFORM setval(pg_get_serial_sequence('"Sales".customer', 'id'), 7); END $$;   -- behind max(id)=40

INSERT INTO "Sales"."order" (customer_id, "from", placed_at, total)
SELECT 1 + (i % 40), CASE WHEN i % 3 = 0 THEN E'web\tshop' ELSE 'store' END,
       '2024-03-01 09:00:00+01'::timestamptz + i * interval '5 hours',
       ROW(i * 3.5, CASE WHEN i % 2 = 0 THEN 'EUR' ELSE 'USD' END)::"Sales"."Money Pair"
FROM generate_series(1, 120) i ORDER BY i;
-- close the cycle: customers point back at an order
UPDATE "Sales".customer SET favourite_order_id = id + 40 WHERE id % 4 = 0;

INSERT INTO "Sales".order_line (order_id, line_no, product, qty, unit_price)
SELECT o, l, 'product ' || ((o * 7 + l) % 30), 1 + (o + l) % 9, ((o * 13 + l * 7) % 1000) / 10.0 + 0.99
FROM generate_series(1, 120) o, generate_series(1, 1 + o % 5) l;

-------------------------------------------------------------------------------------------------
-- Self-referencing FK (tree); children inserted with LOWER ids than their parents
-------------------------------------------------------------------------------------------------
CREATE TABLE "MixedCase Schema"."Category Tree" (
    id         integer PRIMARY KEY,
    parent_id  integer REFERENCES "MixedCase Schema"."Category Tree" (id) ON DELETE CASCADE,
    "Name"     text NOT NULL
);
INSERT INTO "MixedCase Schema"."Category Tree" (id, parent_id, "Name") VALUES
    (1, 10, 'leaf a'), (2, 10, 'leaf b'), (3, 11, 'leaf c'),
    (10, 100, 'branch x'), (11, 100, 'branch y'),
    (100, NULL, 'root');

-------------------------------------------------------------------------------------------------
-- Triggers: created AFTER the data, so the stored rows are NOT what the triggers would produce.
-------------------------------------------------------------------------------------------------
CREATE TABLE app.people (
    id        integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name      text NOT NULL,
    email     app.email,
    revision  integer NOT NULL DEFAULT 0
);
CREATE TABLE app.audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name text NOT NULL,
    op         text NOT NULL,
    row_data   jsonb,
    logged_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE app.counters (name text PRIMARY KEY, n bigint NOT NULL);

INSERT INTO app.people (name, email)
SELECT 'person ' || lower(chr(96 + i)), 'p' || i || '@example.org' FROM generate_series(1, 20) i;
INSERT INTO app.audit_log (table_name, op, row_data, logged_at) VALUES
    ('app.people', 'INSERT', '{"note": "pre-existing audit row"}', '2024-01-01 00:00:00+00'),
    ('app.people', 'UPDATE', '{"note": "second row"}', '2024-01-02 00:00:00+00');
INSERT INTO app.counters VALUES ('people_inserted', 20);

CREATE FUNCTION app.people_normalize() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.name := upper(NEW.name);
    NEW.revision := COALESCE(NEW.revision, 0) + 1;
    RETURN NEW;
END
$$;
CREATE FUNCTION app.audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO app.audit_log (table_name, op, row_data)
    VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP,
            CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END);
    RETURN NULL;
END
$$;
CREATE FUNCTION app.count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app.counters SET n = n + (SELECT count(*) FROM inserted) WHERE name = TG_ARGV[0];
    RETURN NULL;
END
$$;
CREATE FUNCTION app.legacy_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'legacy trigger on %.% must stay disabled', TG_TABLE_SCHEMA, TG_TABLE_NAME;
END
$$;

CREATE TRIGGER people_normalize BEFORE INSERT OR UPDATE ON app.people
    FOR EACH ROW EXECUTE FUNCTION app.people_normalize();
-- ENABLE ALWAYS: fires even under session_replication_role = replica
ALTER TABLE app.people ENABLE ALWAYS TRIGGER people_normalize;
CREATE TRIGGER people_audit AFTER INSERT OR UPDATE OR DELETE ON app.people
    FOR EACH ROW EXECUTE FUNCTION app.audit_row();
CREATE TRIGGER people_count AFTER INSERT ON app.people
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION app.count_inserted('people_inserted');
CREATE TRIGGER people_legacy BEFORE INSERT ON app.people
    FOR EACH ROW EXECUTE FUNCTION app.legacy_guard();
ALTER TABLE app.people DISABLE TRIGGER people_legacy;

-------------------------------------------------------------------------------------------------
-- Rules: an audit table that silently ignores DELETE/UPDATE, an archive that ignores INSERT
-- (COPY FROM ignores rules; INSERT-based loaders would silently drop rows)
-------------------------------------------------------------------------------------------------
CREATE RULE audit_log_no_delete AS ON DELETE TO app.audit_log DO INSTEAD NOTHING;
CREATE RULE audit_log_no_update AS ON UPDATE TO app.audit_log DO INSTEAD NOTHING;

CREATE TABLE app.frozen_archive (id integer PRIMARY KEY, payload text);
INSERT INTO app.frozen_archive SELECT i, 'archived ' || i FROM generate_series(1, 10) i;
CREATE RULE frozen_archive_no_insert AS ON INSERT TO app.frozen_archive DO INSTEAD NOTHING;

-------------------------------------------------------------------------------------------------
-- Partitioned table: range partitions, one attached with a different column order,
-- a DEFAULT partition holding rows, PK and index on the parent
-------------------------------------------------------------------------------------------------
CREATE TABLE app.measurements (
    id           bigint NOT NULL,
    recorded_on  date NOT NULL,
    sensor       text NOT NULL,
    value        numeric,
    PRIMARY KEY (id, recorded_on)
) PARTITION BY RANGE (recorded_on);
CREATE INDEX measurements_sensor_idx ON app.measurements (sensor, recorded_on);
CREATE TABLE app.measurements_2023 PARTITION OF app.measurements
    FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE app.measurements_2024 (        -- different physical column order
    value        numeric,
    sensor       text NOT NULL,
    recorded_on  date NOT NULL,
    id           bigint NOT NULL
);
ALTER TABLE app.measurements ATTACH PARTITION app.measurements_2024
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.measurements_default PARTITION OF app.measurements DEFAULT;
INSERT INTO app.measurements (id, recorded_on, sensor, value)
SELECT i, date '2022-07-01' + (i % 1100), 'sensor-' || (i % 12),
       CASE WHEN i % 97 = 0 THEN 'NaN'::numeric ELSE round((i % 1000) / 7.0, 3) END
FROM generate_series(1, 2400) i;

-------------------------------------------------------------------------------------------------
-- No primary key, exact duplicate rows (incl. duplicate NULLs); REPLICA IDENTITY FULL
-------------------------------------------------------------------------------------------------
CREATE TABLE app.no_pk_dupes (a integer, b text, c jsonb);
INSERT INTO app.no_pk_dupes
SELECT i % 3, CASE WHEN i % 3 = 0 THEN NULL ELSE 'dup ' || (i % 3) END,
       CASE WHEN i % 3 = 2 THEN '{"x": [1, 2]}'::jsonb END
FROM generate_series(1, 12) i;
ALTER TABLE app.no_pk_dupes REPLICA IDENTITY FULL;

-------------------------------------------------------------------------------------------------
-- Inheritance (not partitioning): SELECT * FROM parent includes child rows, COPY parent TO doesn't
-------------------------------------------------------------------------------------------------
CREATE TABLE app.animals (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.dogs (good_boy boolean DEFAULT true) INHERITS (app.animals);
INSERT INTO app.animals VALUES (1, 'generic cat'), (2, 'generic cow');
INSERT INTO app.dogs VALUES (3, 'rex', true), (4, 'fido', false);

-------------------------------------------------------------------------------------------------
-- Unlogged table; NOT VALID constraints violated by existing rows
-------------------------------------------------------------------------------------------------
CREATE UNLOGGED TABLE app.scratch (k text PRIMARY KEY, v integer);
INSERT INTO app.scratch VALUES ('a', 1), ('b', 2);

CREATE TABLE app.legacy_prices (id integer PRIMARY KEY, price numeric, customer_id integer);
INSERT INTO app.legacy_prices VALUES (1, 9.99, 1), (2, -5, 2), (3, 0, 999);   -- -5, 0 and 999 violate
ALTER TABLE app.legacy_prices ADD CONSTRAINT legacy_prices_positive CHECK (price > 0) NOT VALID;
ALTER TABLE app.legacy_prices ADD CONSTRAINT legacy_prices_customer_fk
    FOREIGN KEY (customer_id) REFERENCES "Sales".customer (id) NOT VALID;

-------------------------------------------------------------------------------------------------
-- Exclusion constraint (core gist on a range type)
-------------------------------------------------------------------------------------------------
CREATE TABLE app.bookings (
    id      serial PRIMARY KEY,
    room    integer NOT NULL,
    during  tstzrange NOT NULL,
    EXCLUDE USING gist (during WITH &&)
);
INSERT INTO app.bookings (room, during)
SELECT i % 3, tstzrange('2024-05-01 00:00+00'::timestamptz + (i - 1) * interval '1 day',
                        '2024-05-01 00:00+00'::timestamptz + i * interval '1 day', '[)')
FROM generate_series(1, 10) i;
INSERT INTO app.bookings (room, during) VALUES (9, 'empty'), (9, '[2030-01-01 00:00+00,)');

-------------------------------------------------------------------------------------------------
-- Sequence-using defaults that are not serial
-------------------------------------------------------------------------------------------------
CREATE TABLE app.tickets (
    id     integer PRIMARY KEY DEFAULT nextval('app.countdown_seq'),
    note   text
);
INSERT INTO app.tickets (note) SELECT 'ticket ' || i FROM generate_series(1, 30) i;   -- ids 100, 97, ... 13

-------------------------------------------------------------------------------------------------
-- Row level security: ENABLE + policies; one table with FORCE ROW LEVEL SECURITY
-- (owners of a FORCE'd table see only what the policies allow; superusers always bypass)
-------------------------------------------------------------------------------------------------
CREATE TABLE app.secrets (
    id      integer PRIMARY KEY,
    owner   name NOT NULL DEFAULT current_user,
    secret  text
);
INSERT INTO app.secrets VALUES (1, 'alice', 'alice''s secret'), (2, 'bob', 'bob''s secret'), (3, 'carol', NULL);
ALTER TABLE app.secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY secrets_owner_read ON app.secrets FOR SELECT USING (owner = current_user);
CREATE POLICY secrets_owner_write ON app.secrets FOR INSERT WITH CHECK (owner = current_user);

CREATE TABLE app.tenant_notes (
    id      integer PRIMARY KEY,
    tenant  text NOT NULL,
    note    text
);
INSERT INTO app.tenant_notes VALUES (1, 'acme', 'note for acme'), (2, 'globex', 'note for globex'),
                                    (3, 'blocked', 'never visible through the policies');
ALTER TABLE app.tenant_notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.tenant_notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON app.tenant_notes
    USING (tenant = current_setting('app.tenant', true));
CREATE POLICY tenant_not_blocked ON app.tenant_notes AS RESTRICTIVE
    USING (tenant <> 'blocked');

CREATE FUNCTION app.secret_count() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, app
    AS 'SELECT count(*) FROM secrets';

-------------------------------------------------------------------------------------------------
-- Views on views (3 levels, across schemas, using the custom operator), a view that depends on a
-- primary key (GROUP BY pk with a functionally dependent column), a security_invoker view
-------------------------------------------------------------------------------------------------
CREATE VIEW "Sales".v_customer_totals AS
    SELECT c.id, c.name, c.region, count(o.id) AS orders, sum((o.total).amount) AS amount
    FROM "Sales".customer c
    LEFT JOIN "Sales"."order" o ON o.customer_id = c.id
    GROUP BY c.id;                           -- c.name/c.region are legal only thanks to the PK

CREATE VIEW app.v_sink_basic AS                                            -- level 1
    SELECT id, mood, qty, "from" AS from_text, "Mixed Col", total
    FROM app.kitchen_sink
    WHERE qty IS NOT NULL;

CREATE VIEW "Sales".v_sink_level2 AS                                       -- level 2
    SELECT b.id, b.mood, b.qty, b.total, t.name AS customer_name
    FROM app.v_sink_basic b
    JOIN "Sales".v_customer_totals t ON t.id = 1 + (b.id / 10) % 40
    WHERE b."Mixed Col" OPERATOR(app.=~=) upper(b."Mixed Col");

CREATE VIEW "MixedCase Schema"."v level 3" WITH (security_invoker = true) AS   -- level 3
    SELECT mood, count(*) AS n, sum(total) AS total
    FROM "Sales".v_sink_level2
    GROUP BY mood;
COMMENT ON VIEW "MixedCase Schema"."v level 3" IS 'third level of views-on-views';

-------------------------------------------------------------------------------------------------
-- Materialized views: populated with a unique index (uses the custom aggregate), one built on
-- the view chain, and one deliberately left unpopulated (WITH NO DATA)
-------------------------------------------------------------------------------------------------
CREATE MATERIALIZED VIEW app.mv_mood_stats AS
    SELECT mood, count(*) AS n, sum(qty) AS total_qty,
           app.product((qty % 3 + 1)::numeric) FILTER (WHERE id < 400) AS small_product
    FROM app.kitchen_sink
    GROUP BY mood;
CREATE UNIQUE INDEX mv_mood_stats_mood_idx ON app.mv_mood_stats (mood);

CREATE MATERIALIZED VIEW "Sales".mv_level3 AS
    SELECT * FROM "MixedCase Schema"."v level 3";
CREATE INDEX mv_level3_n_idx ON "Sales".mv_level3 (n);

CREATE MATERIALIZED VIEW app.mv_never_refreshed AS
    SELECT id, ticket FROM app.kitchen_sink
    WITH NO DATA;

-------------------------------------------------------------------------------------------------
-- A large object (fixed OID) referenced from a table: not reachable through COPY of tables
-------------------------------------------------------------------------------------------------
CREATE TABLE app.documents (id integer PRIMARY KEY, title text, content_oid oid);
DO $$ BEGIN
    PERFORM lo_from_bytea(424242, '\x00010203ff'::bytea || convert_to(repeat('large object ', 1000), 'UTF8'));
END $$;
COMMENT ON LARGE OBJECT 424242 IS 'large object referenced by app.documents';
INSERT INTO app.documents VALUES (1, 'lo-backed document', 424242), (2, 'no content', NULL);

-------------------------------------------------------------------------------------------------
-- Privileges granted to PUBLIC (no extra roles needed): schema, table, column, sequence,
-- function ACLs, and default privileges
-------------------------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA app, "Sales" TO PUBLIC;
GRANT SELECT ON app.v_sink_basic, "MixedCase Schema"."v level 3" TO PUBLIC;
GRANT SELECT ("from", "Mixed Col") ON app.kitchen_sink TO PUBLIC;
GRANT USAGE ON SEQUENCE app.ticket_seq TO PUBLIC;
REVOKE EXECUTE ON FUNCTION app.legacy_guard() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION app.secret_count() FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO PUBLIC;

-------------------------------------------------------------------------------------------------
-- Event trigger, created LAST: every CREATE/ALTER TABLE or CREATE INDEX run after it exists
-- adds a row to app.ddl_log. A correct migration leaves app.ddl_log empty on the target.
-------------------------------------------------------------------------------------------------
CREATE TABLE app.ddl_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tag        text NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION app.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO app.ddl_log (tag) VALUES (tg_tag);
END
$$;
CREATE EVENT TRIGGER awkward_ddl_log ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE INDEX')
    EXECUTE FUNCTION app.log_ddl();

ANALYZE;
