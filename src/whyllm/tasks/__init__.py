"""Task packs: loaders, prompt templates and task metrics for one application each."""
