"""Loads the scenario plugin (``scenarios/plugin.py``) for ``pytest scenarios``.

Registering it here, rather than with ``pytest_plugins`` (which pytest only allows in the
root conftest), keeps ``pytest tests`` free of it; ``-p scenarios.plugin`` (or the project's
``addopts``) loads it everywhere, and then this does nothing.
"""


def pytest_addoption(parser, pluginmanager):  # type: ignore[no-untyped-def]
    if not pluginmanager.has_plugin("scenarios.plugin"):
        pluginmanager.import_plugin("scenarios.plugin")
