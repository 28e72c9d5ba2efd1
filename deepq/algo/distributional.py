"""The math of the distributional objectives as pure tensor functions, so tests can feed hand-computed numbers.

Shapes: B batch, A actions, K atoms / quantiles / bins. `done` is 1.0 only where the episode terminated (no
bootstrap); `discount` is gamma**k for a k-step transition, as in deepq.algo.targets.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F


def support(v_min: float, v_max: float, atoms: int, device=None) -> torch.Tensor:
    """The C51 support z_k = v_min + k (v_max - v_min) / (K - 1), k = 0..K-1   (K,)."""
    return torch.linspace(v_min, v_max, atoms, device=device)


def categorical_mean(logits_BAK: torch.Tensor, values_K: torch.Tensor) -> torch.Tensor:
    """Q(s, a) = sum_k softmax(logits)_k z_k: the mean of the categorical distribution   (B, A)."""
    return (logits_BAK.softmax(dim=-1) * values_K).sum(dim=-1)


def categorical_projection(reward_B: torch.Tensor, done_B: torch.Tensor, discount_B: torch.Tensor,
                           next_probs_BK: torch.Tensor, support_K: torch.Tensor) -> torch.Tensor:
    """The projection Phi T z of the (n-step) Bellman target onto the support (Bellemare et al. 2017, Algorithm 1):
    each atom z_j of the next distribution moves to Tz_j = clip(r + discount (1 - done) z_j, v_min, v_max) and its
    probability is split between the two neighbouring atoms in proportion to closeness:
        m_i = sum_j clip(1 - |Tz_j - z_i| / dz, 0, 1) p_j      (the same as the paper's floor/ceil split)   (B, K).
    A terminal transition puts all its mass at r (clipped)."""
    k = support_K.shape[0]
    v_min, v_max = float(support_K[0]), float(support_K[-1])
    dz = (v_max - v_min) / (k - 1)
    tz_BK = (reward_B.unsqueeze(-1) + (discount_B * (1.0 - done_B)).unsqueeze(-1) * support_K).clamp(v_min, v_max)
    # Only the two atoms around Tz_j get weight: the lower one l = floor(b) gets 1 - (b - l), the next l + 1 gets
    # b - l (at b = K - 1 exactly, l is the last atom and keeps it all): a scatter over B x K, not a B x K x K sum.
    position_BK = ((tz_BK - v_min) / dz).clamp(0.0, k - 1)
    lower_BK = position_BK.floor()
    upper_frac_BK = position_BK - lower_BK
    lower_idx_BK = lower_BK.long()
    upper_idx_BK = (lower_idx_BK + 1).clamp(max=k - 1)
    m_BK = torch.zeros_like(next_probs_BK)
    m_BK.scatter_add_(1, lower_idx_BK, next_probs_BK * (1.0 - upper_frac_BK))
    m_BK.scatter_add_(1, upper_idx_BK, next_probs_BK * upper_frac_BK)
    return m_BK


def categorical_cross_entropy(logits_BK: torch.Tensor, target_probs_BK: torch.Tensor) -> torch.Tensor:
    """-sum_k m_k log p_k per sample   (B,)."""
    return -(target_probs_BK.detach() * F.log_softmax(logits_BK, dim=-1)).sum(dim=-1)


def quantile_midpoints(n: int, device=None) -> torch.Tensor:
    """tau_i = (2i + 1) / (2N), i = 0..N-1: the quantile levels QR-DQN's outputs estimate   (N,)."""
    return (torch.arange(n, device=device, dtype=torch.float32) * 2 + 1) / (2 * n)


def quantile_huber_loss(quantiles_BN: torch.Tensor, target_BM: torch.Tensor, kappa: float = 1.0) -> torch.Tensor:
    """QR-DQN's loss per sample (Dabney et al. 2018, eq. 10): with u_ij = T theta_j - theta_i,
        rho_ij = |tau_i - 1{u_ij < 0}| * Huber_kappa(u_ij) / kappa,   loss = sum_i mean_j rho_ij     (B,)."""
    tau_N1 = quantile_midpoints(quantiles_BN.shape[-1], quantiles_BN.device).unsqueeze(-1)
    u_BNM = target_BM.detach().unsqueeze(-2) - quantiles_BN.unsqueeze(-1)
    huber_BNM = F.huber_loss(u_BNM, torch.zeros_like(u_BNM), reduction="none", delta=kappa)
    rho_BNM = (tau_N1 - (u_BNM.detach() < 0).float()).abs() * huber_BNM / kappa
    return rho_BNM.mean(dim=-1).sum(dim=-1)


def bin_edges(v_min: float, v_max: float, bins: int, device=None) -> torch.Tensor:
    """K + 1 evenly spaced edges of the HL-Gauss bins on [v_min, v_max]   (K + 1,)."""
    return torch.linspace(v_min, v_max, bins + 1, device=device)


def bin_centers(edges_K1: torch.Tensor) -> torch.Tensor:
    return (edges_K1[:-1] + edges_K1[1:]) / 2  # (K,)


def hl_gauss_histogram(target_B: torch.Tensor, edges_K1: torch.Tensor, sigma: float,
                       bounds: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
                       scale: Optional[torch.Tensor] = None) -> torch.Tensor:
    """HL-Gauss's target (Farebrother et al. 2024, "Stop Regressing", section 3.1): the mass of N(y, sigma^2) in
    each bin, renormalised to the range [v_min, v_max]:
        p_k = (Phi((e_{k+1} - y) / sigma) - Phi((e_k - y) / sigma)) / (Phi((e_K - y) / sigma) - Phi((e_0 - y) / sigma)).
    A target outside the range is clipped to its nearest end first (far outside, the renormaliser would be 0);
    sigma is in return units here (the config's is in bin widths)   (B, K) (any leading dims: (..., K)).
    A caller that calls it every step can pass what it would compute, as 0-d tensors, for the same numbers in three
    fewer ops: `bounds` (e_0, e_K) (on the target's device) and `scale`, sqrt(2) sigma in float32 on the CPU (as a
    Python number is)."""
    low, high = (edges_K1[0], edges_K1[-1]) if bounds is None else bounds
    y_B1 = target_B.clamp(low, high).unsqueeze(-1)
    scale = math.sqrt(2.0) * sigma if scale is None else scale
    cdf_BK1 = torch.special.erf((edges_K1 - y_B1) / scale)  # 2 Phi - 1: the constants cancel
    return torch.diff(cdf_BK1, dim=-1) / (cdf_BK1[..., -1:] - cdf_BK1[..., :1])
