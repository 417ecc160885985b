"""The bench itself.

Bench files that bind each device role to a simulated model, an emulator or real
hardware; the real-time coupling between SimPy and device I/O; the bench validation
suites; the ``rbench`` CLI; and the real components the bench starts, such as a
throwaway PostgreSQL server (:mod:`hil.postgres`).
"""
