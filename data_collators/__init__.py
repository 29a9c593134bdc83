"""Data collators for latent-space models."""

from .data_collator_latent_prefix import DataCollatorForLatentPrefix

__all__ = ["DataCollatorForLatentPrefix"]
