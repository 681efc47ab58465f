"""Collection rules for the whole repository (pytest runs the docstring examples of every module, see
``pyproject.toml``).

The Streamlit router and pages draw the app when they are imported (``dashboard/app.py`` calls ``main()``, every
``dashboard/views/*.py`` calls ``ui.run_view(render)``): importing them for ``--doctest-modules`` would run the
dashboard outside Streamlit, so they are never collected. Their behaviour is tested through Streamlit's AppTest
(``tests/test_dashboard.py``). Paths here are relative to this file, so the rule holds from any working directory.
"""

collect_ignore = ["dashboard/app.py", "dashboard/views"]
