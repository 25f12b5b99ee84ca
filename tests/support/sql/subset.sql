-- A small shop for subset and rename tests: two schemas, a view, a trigger, a partial index,
-- a check constraint, a foreign key, a column that is left out, a citext column (an extension).
CREATE EXTENSION citext;
CREATE SCHEMA sales;
CREATE SCHEMA crm;
CREATE TABLE crm.contacts (id int PRIMARY KEY, email citext NOT NULL, note text);
CREATE VIEW crm.contact_emails AS SELECT id, email FROM crm.contacts;
CREATE TABLE sales.customers (id int PRIMARY KEY, name text);
CREATE TABLE sales.orders (id bigserial PRIMARY KEY, customer_id int, placed date NOT NULL, total numeric(10,2),
                           touched int NOT NULL DEFAULT 0);
CREATE TABLE sales.order_lines (id int PRIMARY KEY, order_id bigint NOT NULL REFERENCES sales.orders(id),
                                qty int NOT NULL CHECK (qty > 0), secret text);
CREATE INDEX order_lines_order_id_idx ON sales.order_lines (order_id);
CREATE INDEX order_lines_big_qty_idx ON sales.order_lines (qty) WHERE qty > 1;
CREATE INDEX order_lines_secret_idx ON sales.order_lines (secret);
CREATE VIEW sales.big_orders AS SELECT o.id, o.total FROM sales.orders o WHERE o.total > 100;
CREATE FUNCTION sales.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.touched := NEW.touched + 1; RETURN NEW; END $$;
INSERT INTO crm.contacts SELECT g, 'User' || g || '@Example.com', CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END
FROM generate_series(1, 500) g;
INSERT INTO sales.customers SELECT g, 'c' || g FROM generate_series(1, 50) g;
INSERT INTO sales.orders (customer_id, placed, total)
SELECT g % 50 + 1, date '2024-01-01' + g % 365, (g * 7.31) % 500 FROM generate_series(1, 2000) g;
INSERT INTO sales.order_lines SELECT g, g % 2000 + 1, g % 5 + 1, 'secret' || g FROM generate_series(1, 6000) g;
CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON sales.orders FOR EACH ROW EXECUTE FUNCTION sales.touch();
