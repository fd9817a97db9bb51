/**
 * Denoising diffusion around a {@code model.dit.Dit}: the forward process ({@link
 * io.megalith.core.diffusion.NoiseSchedule}: linear and cosine betas, host double precision), the training rows
 * ({@link io.megalith.core.diffusion.Noising}: uniform t, noise and classifier-free label drops keyed by (seed, step,
 * global row), a text-conditioned DiT's caption drops drawn alike; eps or v targets) and their loss as a
 * {@code train.Part} ({@link io.megalith.core.diffusion.DiffusionPart}), the samplers ({@link
 * io.megalith.core.diffusion.Sampler}: DDPM ancestral, DDIM with eta, guidance over class labels or captions: {@link
 * io.megalith.core.diffusion.Conditioning}), the EMA of the weights ({@link io.megalith.core.diffusion.Ema}) and PNG
 * output ({@link io.megalith.core.diffusion.ImageGrid}). It reads the model, its plan ({@code parallelize.DitPlan}) and
 * the trainer; none of them reads it.
 */
package io.megalith.core.diffusion;
