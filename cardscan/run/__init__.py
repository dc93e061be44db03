"""Where concurrency lives: workers, executors, progress callbacks.

* ``worker``: module-level functions a pool runs (``init_worker`` once per
  process with plain-data settings, then ``scan_batch``/``scan_item``);
* ``executor``: runs work units on any ``concurrent.futures.Executor`` with a
  bounded window of in-flight units, or in-process for ``--jobs 1``;
* ``sweep``: the parent's loop: list sources, plan units (splitting big
  files into byte ranges), merge results, push to sinks, tally the summary;
* ``progress``: the callback protocol and its tqdm / status-line versions.
"""
