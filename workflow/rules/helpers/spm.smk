# Helpers of the rules in workflow/rules/spm.smk (included there; what every stage shares is in common.smk).


def spm_model_input(wildcards, input):
    """What one SentencePiece model trains on: its own training files, capped at input_sentence_size."""
    spec = config["datasets"][wildcards.dataset]
    return data_costs.spm_model_bytes(spec, input[0], wildcards.model)


def encode_input(wildcards, input):
    """What one language's encoding reads: its own pair, not the whole dataset."""
    return data_costs.encode_bytes(config["datasets"][wildcards.dataset], input.data, wildcards.lang)


def encoding_models(wildcards):
    """The SentencePiece models that encode one language's pair (its own and the pivot's, or the joint one)."""
    spec = config["datasets"][wildcards.dataset]
    names = {model_for_side(spec, wildcards.lang), model_for_side(spec, spec["pivot"])}
    return [path("spm_model", dataset=wildcards.dataset, model=name) for name in sorted(names)]
