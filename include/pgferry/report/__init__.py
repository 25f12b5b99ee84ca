"""The run report: its model (model.py), its plain-text form for the task log (text.py), its HTML form
for the run's "Run report" tab (html.py, served by app.py), and how a task publishes it (publish.py)."""
