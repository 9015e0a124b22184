"""Metric names logged to Ray Tune and MLflow, defined once (MLflow accepts '/' in names)."""

LOSS_D = "loss/d"  # discriminator / critic loss of the last D step
LOSS_G = "loss/g"  # generator loss of the last G step
LOSS_AE = "loss/ae"  # GN-GAN auto-encoder loss of the last AE step

EVAL_MODES = "eval/modes"  # toy mixtures: modes with >= 1 high-quality point
EVAL_MODES_20 = "eval/modes_20"  # toy mixtures: modes with >= 20 high-quality points
EVAL_HQ = "eval/hq"  # toy mixtures: fraction of high-quality points
EVAL_KL = "eval/kl"  # toy mixtures: KL(mode histogram || uniform)
EVAL_JSD = "eval/jsd"  # toy mixtures: JSD(mode histogram, uniform)
EVAL_FIT = "eval/fit"  # toy mixtures: 1 - TV(generated, true mixture) on the mode cells (primary)

EVAL_FID = "eval/fid"  # images: Frechet distance (Inception or domain features)
EVAL_KID = "eval/kid"  # images: kernel inception distance (mean)
EVAL_IS = "eval/is"  # images: inception score (mean)
EVAL_CLASS_ENTROPY = "eval/class_entropy"  # MNIST: entropy of predicted-class histogram
EVAL_CLASS_L2 = "eval/class_l2"  # MNIST: L2 distance of that histogram to uniform

STEP = "step"  # training iteration at which a result was measured
DIVERGED = "diverged"  # result key (1) of a trial's final report when its losses diverged
