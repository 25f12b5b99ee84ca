-- dependencies.sql: a Pagila-like schema for selections whose dependencies must be complete (issue 11).
-- Choose shop.film and shop.language (not shop.customer, shop.inventory) and rename film.title:
-- rewards() returns SETOF shop.customer, a table not chosen; in_stock()'s body names shop.inventory;
-- film's fulltext trigger passes 'title' to tsvector_update_trigger; film and language take their ids
-- from free-standing sequences (not OWNED BY, as in Pagila); customer_id_seq belongs to no chosen table.
SET client_min_messages = warning;
CREATE SCHEMA shop;
CREATE TYPE shop.rating AS ENUM ('G', 'PG', 'R');
CREATE DOMAIN shop.year AS integer CHECK (VALUE BETWEEN 1900 AND 2100);
CREATE SEQUENCE shop.language_id_seq;
CREATE SEQUENCE shop.film_id_seq START 100;
CREATE SEQUENCE shop.customer_id_seq;
CREATE TABLE shop.language (id integer DEFAULT nextval('shop.language_id_seq') PRIMARY KEY, name text NOT NULL);
CREATE TABLE shop.film (
    id integer DEFAULT nextval('shop.film_id_seq') PRIMARY KEY,
    title text NOT NULL,
    rating shop.rating,
    released shop.year,
    language_id integer NOT NULL REFERENCES shop.language,
    fulltext tsvector);
CREATE TABLE shop.customer (id integer DEFAULT nextval('shop.customer_id_seq') PRIMARY KEY, name text);
CREATE TABLE shop.inventory (id serial PRIMARY KEY, film_id integer NOT NULL REFERENCES shop.film);
CREATE TRIGGER film_fulltext BEFORE INSERT OR UPDATE ON shop.film
    FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(fulltext, 'pg_catalog.english', title);
CREATE FUNCTION shop.rewards(minimum integer) RETURNS SETOF shop.customer LANGUAGE sql STABLE
    AS $$ SELECT * FROM shop.customer WHERE id >= minimum $$;
CREATE FUNCTION shop.in_stock(p_film integer) RETURNS bigint LANGUAGE plpgsql STABLE
    AS $$ BEGIN RETURN (SELECT count(*) FROM inventory WHERE film_id = p_film); END $$;
CREATE FUNCTION shop.rated(r shop.rating) RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM shop.film WHERE rating = r $$;
INSERT INTO shop.language (name) VALUES ('English'), ('Italian');
INSERT INTO shop.film (title, rating, released, language_id)
    SELECT 'film ' || i, (ARRAY['G', 'PG', 'R'])[1 + i % 3]::shop.rating, 1990 + i % 30, 1 + i % 2
    FROM generate_series(1, 50) i;
INSERT INTO shop.customer (name) SELECT 'c' || i FROM generate_series(1, 5) i;
INSERT INTO shop.inventory (film_id) SELECT 100 + i % 50 FROM generate_series(0, 99) i;

-- Schema ref is never chosen; box.ticket needs some of its objects (a column's enum and domain types, a
-- default's function, which uses a sequence in its SQL-standard body, a default's sequence); the rest of
-- ref (a table, a function returning its rows, an unused sequence) must stay behind.
CREATE SCHEMA ref;
CREATE TYPE ref.tier AS ENUM ('basic', 'gold');
CREATE DOMAIN ref.code AS text CHECK (VALUE ~ '^[A-Z]+$');
CREATE SEQUENCE ref.ticket_seq START 500;
CREATE SEQUENCE ref.serial_seq START 9000;
CREATE SEQUENCE ref.unused_seq;
CREATE FUNCTION ref.next_serial() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT nextval('ref.serial_seq'); END;
CREATE TABLE ref.partners (id integer PRIMARY KEY, name text);
CREATE FUNCTION ref.partner_list() RETURNS SETOF ref.partners LANGUAGE sql AS $$ SELECT * FROM ref.partners $$;
CREATE SCHEMA box;
CREATE TABLE box.ticket (id bigint DEFAULT nextval('ref.ticket_seq') PRIMARY KEY, tier ref.tier NOT NULL,
    code ref.code, serial bigint DEFAULT ref.next_serial());
INSERT INTO box.ticket (tier, code) VALUES ('basic', 'AB'), ('gold', 'XYZ');

-- A trigger whose function may be excluded; a row level security policy over a table that may be left out.
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER language_touch BEFORE UPDATE ON shop.language FOR EACH ROW EXECUTE FUNCTION shop.touch();
CREATE SCHEMA pol;
CREATE TABLE pol.owners (name text PRIMARY KEY);
CREATE TABLE pol.notes (id integer PRIMARY KEY, owner text NOT NULL, body text);
ALTER TABLE pol.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON pol.notes USING (owner IN (SELECT name FROM pol.owners));

-- box.ticket's trigger calls a function of schema ref (brought along with it).
CREATE FUNCTION ref.stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER ticket_stamp BEFORE INSERT ON box.ticket FOR EACH ROW EXECUTE FUNCTION ref.stamp();

-- A view whose string constant names shop.film as text (a rename cannot rewrite it).
CREATE VIEW shop.film_size AS SELECT pg_total_relation_size(to_regclass('shop.film')) AS bytes, count(*) AS films
    FROM shop.film;
