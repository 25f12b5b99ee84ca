"""The logical migration, one module per Airflow task, named as the task (copy_lane.py for copy_lane).

Each task opens its own connections from the Airflow connection ids in the Params and reads what
earlier tasks decided from XCom (`state`, the precheck's result; the lanes and post-data statements of
plan_lanes); nothing passes through local files. Every task can be retried alone: structure is one
transaction and skips itself when a former try committed it; copy units clear their own rows first;
index, constraint and trigger statements skip objects that already exist.

Helpers: common (endpoints, the Params' switches), selection (the plan builder), units (work units and
lanes), copying (one unit's COPY), lane_retry (what a retried lane finds of its earlier tries and says),
table_finisher (a lane's index builds and ANALYZE), comparison
(source-against-target reads of validate), foreign_keys (the keys' cost model and check), materialized_views.
"""
