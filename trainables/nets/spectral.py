"""Spectral normalisation of Linear / Conv2d layers by power iteration: PIM and PICO.

Both methods divide the layer's weight by an estimate ``sigma`` of the largest singular value of
a linear operator ``A(W)`` obtained by power iteration (Miyato et al. 2018; mmd_repulsive.txt
appendix B.1):

- ``"pim"`` (power iteration on the matrix): ``A(W)`` is the weight reshaped to an
  ``(out, -1)`` matrix, as in ``torch.nn.utils.spectral_norm``.
- ``"pico"`` (power iteration on the convolution): ``A(W)`` is the convolution itself, a linear map
  on inputs of one fixed shape ``(C_in, H, W)``; its adjoint is ``conv_transpose2d`` with the
  ``output_padding`` that restores the input's shape. This is the operator norm of the layer as
  it acts on the network's activations. For ``nn.Linear`` PICO and PIM are the same operator.
- ``"none"``: the module is returned unchanged.

One power-iteration step, shared by both methods, with ``normalize(a) = a / max(||a||, eps)``::

    v <- normalize(A^T u)        # input-space vector  (buffer ``vec_in``)
    u <- normalize(A v)          # output-space vector (buffer ``vec_out``)
    sigma = <u, A v>             # = ||A v|| right after an update

The vectors are buffers (saved in ``state_dict``), updated only in training mode under
``no_grad``; ``sigma`` is recomputed from them with the gradient flowing through ``W`` (standard
SN semantics, gradient ``u v^T`` through sigma).
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from trainables.precision import full_precision

SN_METHODS = ("none", "pim", "pico")

# Power-iteration steps run once at construction so that sigma is already a good estimate at the
# first forward pass (the same warm-up as torch.nn.utils.parametrizations.spectral_norm).
WARMUP_ITERATIONS = 15

IntPair = Union[int, Sequence[int]]


def _pair(value: IntPair, name: str) -> Tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{name} = {value!r}: expected an int or a pair of ints")


def _normalize(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``x / max(||x||_2, eps)`` over all elements (the whole tensor is one vector)."""
    return x / x.norm().clamp_min(eps)


class _MatrixOperator:
    """``A(W) v = W.reshape(out, -1) @ v`` (PIM; also PICO for Linear layers)."""

    def __init__(self, weight: torch.Tensor):
        self.in_shape: Tuple[int, ...] = (int(math.prod(weight.shape[1:])),)
        self.out_shape: Tuple[int, ...] = (int(weight.shape[0]),)

    def apply(self, vec_in: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return weight.reshape(weight.shape[0], -1) @ vec_in

    def apply_t(self, vec_out: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return weight.reshape(weight.shape[0], -1).t() @ vec_out


class _ConvOperator:
    """``A(W) v = conv2d(v, W)`` on inputs of shape ``(1, C, H, W)`` (PICO).

    The adjoint is ``conv_transpose2d`` with ``output_padding`` chosen so that its output has the
    input's spatial size (the rows/columns that the strided convolution never reads get zeros).
    """

    def __init__(self, weight: torch.Tensor, input_shape: Sequence[int], stride: IntPair,
                 padding: IntPair, dilation: IntPair = 1, groups: int = 1):
        if (not isinstance(input_shape, (tuple, list, torch.Size)) or len(input_shape) != 3
                or not all(isinstance(s, int) and s >= 1 for s in input_shape)):
            raise ValueError(f"input_shape = {input_shape!r}: expected (C, H, W) of positive ints")
        if isinstance(padding, str):
            raise ValueError(f"padding = {padding!r}: PICO needs explicit integer padding")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        self.groups = int(groups)
        channels, height, width = (int(s) for s in input_shape)
        if channels != weight.shape[1] * self.groups:
            raise ValueError(f"input_shape = {tuple(input_shape)!r}: C must equal the layer's "
                             f"in_channels = {weight.shape[1] * self.groups}")
        kernel = tuple(int(k) for k in weight.shape[2:])
        out_hw, self.output_padding = [], []
        for size, k, s, p, d in zip((height, width), kernel, self.stride, self.padding, self.dilation):
            out = (size + 2 * p - d * (k - 1) - 1) // s + 1
            if out < 1:
                raise ValueError(f"input_shape = {tuple(input_shape)!r}: too small for this convolution")
            out_hw.append(out)
            self.output_padding.append(size - ((out - 1) * s - 2 * p + d * (k - 1) + 1))
        self.output_padding = tuple(self.output_padding)
        self.in_shape = (1, channels, height, width)
        self.out_shape = (1, int(weight.shape[0]), out_hw[0], out_hw[1])

    def apply(self, vec_in: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.conv2d(vec_in, weight, None, self.stride, self.padding, self.dilation, self.groups)

    def apply_t(self, vec_out: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(vec_out, weight, None, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


@full_precision
def _power_iterate(operator, weight: torch.Tensor, vec_out: torch.Tensor, n_iter: int,
                   eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Run ``n_iter >= 1`` steps ``v = normalize(A^T u); u = normalize(A v)``; return ``(v, u)``."""
    vec_in = None
    for _ in range(n_iter):
        vec_in = _normalize(operator.apply_t(vec_out, weight), eps)
        vec_out = _normalize(operator.apply(vec_in, weight), eps)
    return vec_in, vec_out


@full_precision
def _sigma_from(operator, weight: torch.Tensor, vec_in: torch.Tensor,
                vec_out: torch.Tensor) -> torch.Tensor:
    """``sigma = <u, A(W) v>``, differentiable in ``W`` (u, v are constants)."""
    return (vec_out * operator.apply(vec_in, weight)).sum()


def _check_iterations(n_iter: int, name: str) -> None:
    if not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"{name} = {n_iter!r}: expected an int >= 1")


def _estimate(operator, weight: torch.Tensor, n_iter: int, eps: float,
              generator: Optional[torch.Generator]) -> torch.Tensor:
    with torch.no_grad():
        start = torch.randn(operator.out_shape, generator=generator, dtype=weight.dtype,
                            device=weight.device)
        vec_in, vec_out = _power_iterate(operator, weight, _normalize(start, eps), n_iter, eps)
    return _sigma_from(operator, weight, vec_in, vec_out)


def pim_sigma(weight: torch.Tensor,
              n_iter: int = 100,  # enough for most random kernels to agree to < 1e-3
              eps: float = 1e-12,  # floor of the norm when normalising vectors
              generator: Optional[torch.Generator] = None) -> torch.Tensor:  # None: global RNG
    """PIM estimate of the spectral norm of ``weight.reshape(weight.shape[0], -1)``.

    Starts from a random normalised output-space vector ``u`` (drawn with ``generator``), runs
    ``n_iter`` power-iteration steps without gradient and returns ``sigma = <u, W v>`` as a 0-d
    tensor (differentiable in ``weight``). A lower bound of the true norm that converges to it.
    """
    _check_iterations(n_iter, "n_iter")
    return _estimate(_MatrixOperator(weight), weight, n_iter, eps, generator)


def pico_sigma(weight: torch.Tensor, input_shape: Sequence[int],
               stride: IntPair = 1,  # nn.Conv2d's default
               padding: IntPair = 0,  # nn.Conv2d's default
               n_iter: int = 100,  # enough for most random kernels to agree to < 1e-3
               dilation: IntPair = 1,  # nn.Conv2d's default
               groups: int = 1,  # nn.Conv2d's default
               eps: float = 1e-12,  # floor of the norm when normalising vectors
               generator: Optional[torch.Generator] = None) -> torch.Tensor:  # None: global RNG
    """PICO estimate of the operator norm of ``x -> conv2d(x, weight, stride, padding)`` on
    inputs of shape ``input_shape = (C, H, W)`` (zero padding).

    Power iteration with ``conv2d`` and its adjoint ``conv_transpose2d`` (``output_padding`` set
    so the adjoint returns the input's shape); same start, steps and return value as
    :func:`pim_sigma`.
    """
    _check_iterations(n_iter, "n_iter")
    operator = _ConvOperator(weight, input_shape, stride, padding, dilation, groups)
    return _estimate(operator, weight, n_iter, eps, generator)


def _linear_forward(module: nn.Linear, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.linear(x, weight, module.bias)


def _conv_forward(module: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return module._conv_forward(x, weight, module.bias)  # honours padding_mode, dilation, groups


def _pim_operator(module: nn.Module, input_shape: Optional[Sequence[int]]):
    return _MatrixOperator(module.weight)


def _pico_operator(module: nn.Module, input_shape: Optional[Sequence[int]]):
    if isinstance(module, nn.Linear):
        return _MatrixOperator(module.weight)
    if input_shape is None:
        raise ValueError("input_shape = None: PICO on Conv2d needs the layer's input shape (C, H, W)")
    if module.padding_mode != "zeros":
        raise ValueError(f"padding_mode = {module.padding_mode!r}: PICO supports only 'zeros'")
    return _ConvOperator(module.weight, input_shape, module.stride, module.padding,
                         module.dilation, module.groups)


_FORWARDS = {nn.Linear: _linear_forward, nn.Conv2d: _conv_forward}
_OPERATORS = {"pim": _pim_operator, "pico": _pico_operator}


class SpectralNormed(nn.Module):
    """A Linear/Conv2d layer whose weight is used as ``scale * W / sigma(W)`` (see the module
    docstring; ``scale`` is 1 unless set).

    ``self.module`` keeps the raw parameters (``module.weight``, ``module.bias``); the buffers
    ``vec_in`` (input-space, shape ``(in_features,)`` or ``(1, C, H, W)``) and ``vec_out``
    (output-space) hold the power-iteration state. In training mode each forward first runs
    ``n_power_iterations`` steps under ``no_grad`` and stores the vectors in place; in eval mode
    they are left alone. For PICO on a convolution the input's ``(C, H, W)`` must equal
    ``input_shape`` (the estimate is the operator norm for that size).
    """

    def __init__(self, module: nn.Module, method: str,
                 input_shape: Optional[Sequence[int]] = None,  # (C, H, W); PICO on Conv2d only
                 n_power_iterations: int = 1,  # one step per training forward
                 eps: float = 1e-12):  # floor of the norm when normalising vectors
        super().__init__()
        if method not in _OPERATORS:
            raise ValueError(f"method = {method!r}: SpectralNormed accepts 'pim' or 'pico'")
        _check_iterations(n_power_iterations, "n_power_iterations")
        self.module = module
        self.method = method
        self.n_power_iterations = n_power_iterations
        self.eps = eps
        # Multiplies the normalised weight: the layer's norm is ``scale`` instead of 1. The
        # official repulsive MMD-GAN code scales every SN layer of D by act_k = 64 ** 0.125
        # (set by ``build_nets(sn_scale=...)``, ``net.sn_scale``).
        self.scale = 1.0
        self._forward_fn = _forward_for(module)
        self._operator = _OPERATORS[method](module, input_shape)
        self.input_shape = tuple(input_shape) if isinstance(self._operator, _ConvOperator) else None
        weight = module.weight.detach()
        start = torch.randn(self._operator.out_shape, dtype=weight.dtype, device=weight.device)
        with torch.no_grad():
            vec_in, vec_out = _power_iterate(self._operator, weight, _normalize(start, eps),
                                             WARMUP_ITERATIONS, eps)
        self.register_buffer("vec_in", vec_in.contiguous())
        self.register_buffer("vec_out", vec_out.contiguous())

    def sigma(self) -> torch.Tensor:
        """``<u, A(W) v>`` from the stored vectors (no update), differentiable in ``W``.

        The vectors are cloned so that a later in-place update (the next training-mode forward)
        does not invalidate this graph (e.g. ``D(real)``, ``D(fake)``, then one backward).
        """
        return _sigma_from(self._operator, self.module.weight, self.vec_in.clone(),
                           self.vec_out.clone())

    def effective_weight(self) -> torch.Tensor:
        """``scale * W / sigma`` as used by the forward pass (no power-iteration update)."""
        weight = self.module.weight / self.sigma()
        return weight if self.scale == 1.0 else self.scale * weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_shape is not None and tuple(x.shape[-3:]) != self.input_shape:
            raise ValueError(f"input shape {tuple(x.shape[-3:])} != input_shape = {self.input_shape} "
                             "given to PICO spectral_norm")
        if self.training:
            with torch.no_grad():
                vec_in, vec_out = _power_iterate(self._operator, self.module.weight.detach(),
                                                 self.vec_out, self.n_power_iterations, self.eps)
                self.vec_in.copy_(vec_in)
                self.vec_out.copy_(vec_out)
        return self._forward_fn(self.module, x, self.effective_weight())

    def extra_repr(self) -> str:
        shape = f", input_shape={self.input_shape}" if self.input_shape is not None else ""
        scale = f", scale={self.scale:g}" if self.scale != 1.0 else ""
        return f"method={self.method!r}, n_power_iterations={self.n_power_iterations}{shape}{scale}"


def _forward_for(module: nn.Module) -> Callable:
    for kind, forward in _FORWARDS.items():
        if isinstance(module, kind):
            return forward
    raise ValueError(f"module = {type(module).__name__}: spectral_norm supports nn.Linear and nn.Conv2d")


def spectral_norm(module: nn.Module,
                  method: str = "pim",  # torch's own method (reshaped weight matrix)
                  input_shape: Optional[Sequence[int]] = None,  # (C, H, W); PICO on Conv2d only
                  n_power_iterations: int = 1,  # Miyato et al.: one step per training forward
                  eps: float = 1e-12) -> nn.Module:  # floor of the norm when normalising vectors
    """Wrap ``module`` (nn.Linear or nn.Conv2d) so its forward uses ``W / sigma(W)``.

    ``method``: ``"none"`` returns ``module`` itself; ``"pim"`` / ``"pico"`` return a
    :class:`SpectralNormed` wrapper. ``input_shape = (C, H, W)`` is required for PICO on a
    Conv2d (ignored otherwise). ``n_power_iterations``: steps per training-mode forward (>= 1).
    The buffers start from a random vector followed by ``WARMUP_ITERATIONS`` steps (a choice:
    the spec is silent; torch's parametrization does the same).
    """
    if method not in SN_METHODS:
        raise ValueError(f"method = {method!r}: expected one of {', '.join(map(repr, SN_METHODS))}")
    if method == "none":
        return module
    _check_iterations(n_power_iterations, "n_power_iterations")
    _forward_for(module)
    return SpectralNormed(module, method, input_shape, n_power_iterations, eps)
