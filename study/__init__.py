"""Studies: a study file -> one Ray Tune sweep per GAN (Optuna + ASHA), tracked in MLflow.

Entry points: the ``study`` command (:mod:`study.cli`), :func:`study.study_file.load_study`,
:func:`study.lifecycle.run_study`, :func:`study.lifecycle.resume_study`.
"""
