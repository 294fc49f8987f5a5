"""The fairseq plugin: the task (pure batches, per-pair validation, LSSD's teachers and switch) and the criterion,
registered with fairseq by ``--user-dir lssd/plugin/user_dir/lssd_fairseq_plugin`` (``lssd.run.commands``)."""
