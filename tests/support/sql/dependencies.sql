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
