"""What on-call looks at in the Airflow UI: the dashboards page and Data Docs, served by the api-server.

``credsync.ui.app`` is the FastAPI app the plugin ``plugins/credsync_ui_plugin.py`` mounts;
``queries`` reads the warehouse, ``charts`` draws SVG, ``pages`` writes the HTML. Nothing here
runs in a task.
"""
