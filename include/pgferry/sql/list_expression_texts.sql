-- The text of views, rules, policies, column defaults and check constraints of user relations, as the
-- server prints it: precheck looks for names in their string constants, which no rename rewrites.
-- `is_query`: the text is a whole query (a view's SELECT, a rule); otherwise one expression.
SELECT 'view' AS kind, c.relname::text AS name, c.oid::bigint AS table_oid, pg_get_viewdef(c.oid) AS definition,
       true AS is_query
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
UNION ALL
SELECT 'rule', r.rulename::text, r.ev_class::bigint, pg_get_ruledef(r.oid), true
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
UNION ALL
SELECT 'policy', p.polname::text, p.polrelid::bigint,
       concat_ws(' AND ', pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)), false
FROM pg_policy p
UNION ALL
SELECT 'default', a.attname::text, d.adrelid::bigint, pg_get_expr(d.adbin, d.adrelid), false
FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
UNION ALL
SELECT 'check constraint', con.conname::text, con.conrelid::bigint, pg_get_expr(con.conbin, con.conrelid), false
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'c' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
ORDER BY 3, 1, 2;
