"""Benchmarks of airflow-provider-wan; ``python -m bench`` runs the comparison of issue 7.

See docs/benchmarks.md. Also here: ``emulator_throughput.py`` (the emulator's own limits) and
``pull_memory.py`` (pull mode's memory with large images).
"""
