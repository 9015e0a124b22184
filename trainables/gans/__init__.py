"""One module per GAN: its objective (hyperparameters, losses), defaults per data family,
variants and search space, exposed as ``GAN = GanSpec(...)`` (see ``base.py``).

Adding a GAN: write ``trainables/gans/<name>.py`` (copy ``nsgan.py`` or ``mlgan.py``) and add
its module name to :data:`BUILTIN` below; or keep the module in your own package and name it in
a study file (``gan_modules = ["my_pkg.my_gan"]``) or with ``python -m trainables.train
--set gan_module=my_pkg.my_gan``. Pure loss functions shared by several GANs live in
``trainables/losses``; a new GAN may keep its own in its module.
"""

# The built-in GANs, registered in this order (one line each).
BUILTIN = (
    "tripletgan",
    "mlgan",
    "mbgan",
    "gngan",
    "mmd_rep",
    "mmd_rbf",
    "mmd_rq",
    "nsgan",
    "hinge",
    "wgan_gp",
)
