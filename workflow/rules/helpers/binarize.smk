# Helpers of the rules in workflow/rules/binarize.smk (included there; what every stage shares is in common.smk).


def dataset_max_positions(dataset):
    """The smallest max_positions of the dataset's configured runs, and where it is set (for the length check).
    Both are binarize params: neither may name a run, or adding a method would rebuild the data-bin."""
    positions = [
        lssd_config.training_settings(config, d, direction, method)["max_positions"]
        for d, direction, method, _ in RUNS
        if d == dataset
    ]
    preset = config["datasets"][dataset]["training"]
    return (min(positions), f"trainings.{preset}.max_positions or an override of it") if positions else (0, "")


def encoded_languages(wildcards):
    spec = config["datasets"][wildcards.dataset]
    return [path("encoded", dataset=wildcards.dataset, lang=lang) for lang in lssd_config.dataset_languages(spec)]
