"""Training: the training loop and LoRA finetuning of any VLM (imports torch)."""
