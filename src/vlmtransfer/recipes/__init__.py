"""Recipes: procedures that compose training (:mod:`vlmtransfer.finetune`) and evaluation
(:mod:`vlmtransfer.evaluate`), so they sit above both in the one-way data flow
(tasks → data → finetune → evaluate → store → analysis → report) and neither imports them.

- :mod:`.tiny_pretrain`: pretraining the embedded tiny Qwen2.5-VL (:mod:`vlmtransfer.models.tiny`) on the
  synthetic suite, a curriculum that trains each task and checks it on held-out questions (imports torch);
  ``vlmtransfer model tiny --rebuild`` runs it.
"""
