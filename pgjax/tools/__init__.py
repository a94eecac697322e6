"""Run tooling around the pipeline: the command line (``cli``), a run in chunks with a run
folder (``session``, ``chunks``), the run folder's files (``folders``, ``config_file``,
``checkpoint``, ``metrics_files``), progress and trackers (``loggers``, ``tracking``), sweeps
(``sweep``), evaluation and rendering (``evaluate``, ``render``)."""
