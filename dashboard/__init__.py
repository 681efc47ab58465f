"""lstmviz Streamlit dashboard: ``streamlit run dashboard/app.py`` (router in app.py, pages in views/)."""
