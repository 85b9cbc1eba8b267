"""Shared pytest configuration: markers."""


def pytest_configure(config):
    # notebooks: the smoke-scale papermill runs (tests/test_notebooks.py); deselect with -m "not notebooks"
    config.addinivalue_line("markers", "notebooks: smoke-scale papermill runs of the numbered notebooks")
