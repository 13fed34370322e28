"""Model families: adapters from typed config to a model, its update and its observables."""
