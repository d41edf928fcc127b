"""Inference after a fit: likelihood-ratio tests, profiles and confidence intervals,
Satterthwaite and Kenward-Roger degrees of freedom, variance-component standard errors.

Each module takes fitted results and returns arrays or pandas objects; the numerical kernels are
JAX functions of the parameters (exact autodiff derivatives, vmapped evaluations)."""
