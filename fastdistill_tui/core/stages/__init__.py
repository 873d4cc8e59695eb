"""Pipeline stages, one a file, in pipeline order (see engine.STAGES).

Per-sample stages (canonicalize … score) take and fill a `WorkItem`; barrier stages (select,
export, and later train/student) work on the run's stored results.
"""
