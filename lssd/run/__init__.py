"""Running the models: fairseq command lines from the config, the training runner, the evaluation, GPU claims,
and the status and disk commands."""
