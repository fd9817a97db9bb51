package io.megalith.core.diffusion;

/**
 * The diffusion side of a {@code dit} run: {@code timesteps} of a {@code schedule} (linear, cosine), what the
 * network predicts (epsilon, v), the probability of dropping a row's label to the null class in training
 * (classifier-free guidance), the sampler's defaults (DDIM {@code samplingSteps} and {@code eta}, the guidance
 * scale, the range predicted x_0 is clamped to while sampling, 0 for none: {@link Sampler#clipped}) and the EMA decay
 * of the weights.
 */
public record DiffusionConfig(int timesteps, String schedule, Prediction prediction, double classDropout,
        int samplingSteps, double eta, double guidanceScale, double clipDenoised, double emaDecay) {
    /**
     * DiT's defaults: 1000 linear steps, epsilon, 10% label dropout, DDIM 50 steps eta 0, scale 4, no clamp, EMA
     * 0.9999.
     */
    public static final DiffusionConfig DEFAULT = new DiffusionConfig(1000, "linear", Prediction.EPSILON, 0.1, 50, 0.0,
            4.0, 0.0, 0.9999);

    public DiffusionConfig {
        if (timesteps < 1 || samplingSteps < 1 || samplingSteps > timesteps) {
            throw new IllegalArgumentException("diffusion: " + timesteps + " timesteps, " + samplingSteps
                    + " sampling steps");
        }
        if (classDropout < 0 || classDropout >= 1 || eta < 0 || clipDenoised < 0 || emaDecay < 0 || emaDecay >= 1) {
            throw new IllegalArgumentException("diffusion: class dropout " + classDropout + ", eta " + eta
                    + ", ema decay " + emaDecay);
        }
        NoiseSchedule.of(schedule, 1); // the name is known
    }

    public NoiseSchedule noiseSchedule() {
        return NoiseSchedule.of(schedule, timesteps);
    }

    /** A sampler of {@code model} with this schedule, prediction and clamp; {@code values} = C H W of an image. */
    public Sampler sampler(Denoiser model, int nullClass, int values) {
        return new Sampler(noiseSchedule(), prediction, model, nullClass, values).clipped(clipDenoised);
    }
}
