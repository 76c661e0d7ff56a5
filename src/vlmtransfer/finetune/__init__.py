"""Training: LoRA finetuning of any VLM, and pretraining of the embedded tiny model (imports torch)."""
